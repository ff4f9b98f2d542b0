"""Reducing long inputs to their informative lines without losing the exception text."""

from __future__ import annotations

from agent.known_errors import reduce_log

NUMPY_MESSAGE = (
    "AttributeError: module 'numpy' has no attribute 'float'.\n"
    "`np.float` was a deprecated alias for the builtin `float`. To avoid this error in existing "
    "code, use `float` by itself. Doing this will not modify any behavior and is safe. If you "
    "specifically wanted the numpy scalar type, use `np.float64` here."
)


def python_traceback(depth: int) -> str:
    lines = ["Traceback (most recent call last):"]
    for i in range(depth):
        lines.append(f'  File "/srv/app/pkg/layer{i}.py", line {10 + i}, in step{i}')
        lines.append(f"    return step{i + 1}(batch)")
    return "\n".join(lines) + "\n" + NUMPY_MESSAGE


def test_short_input_passes_through_unchanged() -> None:
    text = "ValueError: bad\n"
    reduced = reduce_log(text)
    assert not reduced.reduced
    assert reduced.text == "ValueError: bad"
    assert reduced.headline == "ValueError: bad"


def test_200_line_traceback_keeps_message_and_last_frames() -> None:
    text = python_traceback(100)
    assert len(text.splitlines()) > 200
    reduced = reduce_log(text)
    assert reduced.reduced and reduced.lines_out < 15
    assert NUMPY_MESSAGE in reduced.text  # the whole multi-line message, unclipped
    assert reduced.headline == NUMPY_MESSAGE
    assert 'layer99.py", line 109' in reduced.text  # where it was raised
    assert 'layer97.py"' in reduced.text
    assert 'layer50.py"' not in reduced.text
    assert reduced.text.splitlines()[0] == "Traceback (most recent call last):"


def test_whole_log_keeps_errors_drops_info_noise_and_counts_repeats() -> None:
    lines = [f"2024-05-01 10:00:{i % 60:02d} INFO worker: processed batch {i}" for i in range(500)]
    lines += [
        f"2024-05-01 10:01:{i % 60:02d} ERROR client: request {i} failed: reset" for i in range(50)
    ]
    lines.insert(250, "2024-05-01 10:00:30 FATAL engine: CUDA out of memory on device 0")
    lines.append(python_traceback(3))
    reduced = reduce_log("\n".join(lines))
    text = reduced.text
    assert "INFO" not in text
    assert "FATAL engine: CUDA out of memory on device 0" in text
    assert "ERROR client: request 0 failed: reset  [repeated 50×]" in text
    assert NUMPY_MESSAGE in text
    assert reduced.lines_in > 550 and reduced.lines_out < 20


def test_java_trace_keeps_every_exception_and_the_top_frames() -> None:
    frames = [f"\tat com.example.Service{i}.call(Service{i}.java:{i + 10})" for i in range(80)]
    text = "\n".join(
        [
            "2024-05-01 10:00:00,123 ERROR [main] Application failed",
            "java.lang.IllegalStateException: Failed to load ApplicationContext",
            *frames,
            "Caused by: java.net.ConnectException: Connection refused: localhost/127.0.0.1:5432",
            *frames[:40],
            "\t... 37 more",
        ]
    )
    reduced = reduce_log(text)
    assert "java.lang.IllegalStateException: Failed to load ApplicationContext" in reduced.text
    assert "Caused by: java.net.ConnectException: Connection refused" in reduced.text
    assert "Service0.call(Service0.java:10)" in reduced.text
    assert "Service70.call" not in reduced.text
    assert reduced.headline.splitlines() == [
        "java.lang.IllegalStateException: Failed to load ApplicationContext",
        "Caused by: java.net.ConnectException: Connection refused: localhost/127.0.0.1:5432",
    ]


def test_budget_never_drops_exception_lines() -> None:
    errors = [
        f"2024-05-01 ERROR job {i}: unique failure kind {chr(65 + i % 26)}{i}" for i in range(300)
    ]
    text = "\n".join([*errors, "RuntimeError: the real problem"])
    reduced = reduce_log(text, max_lines=10)
    assert "RuntimeError: the real problem" in reduced.text
    assert reduced.lines_out <= 10 + 5  # budget plus elision markers


def test_log_without_errors_keeps_its_tail() -> None:
    text = "\n".join(f"step {i} ok" for i in range(200))
    reduced = reduce_log(text, max_lines=5)
    assert reduced.text.splitlines() == [f"step {i} ok" for i in range(195, 200)]
    assert reduced.headline == ""


def test_library_frames_fold_so_the_frames_kept_are_the_projects() -> None:
    noise = [f"2024-05-01 10:00:{i:02d} INFO request {i} served" for i in range(60)]
    jdk = [f"\tat java.util.HashMap$HashIterator.nextNode(HashMap.java:{n})" for n in range(5)]
    runner = [f"\tat org.junit.runners.ParentRunner.run(ParentRunner.java:{n})" for n in range(30)]
    text = "\n".join(
        [
            *noise,
            "java.util.ConcurrentModificationException",
            *jdk,
            "\tat com.shop.Cart.removeExpired(Cart.java:88)",
            "\tat com.shop.CartTest.testRemoveExpired(CartTest.java:41)",
            *runner,
        ]
    )
    reduced = reduce_log(text)
    assert reduced.reduced and reduced.lines_in == 60 + 1 + 5 + 2 + 30
    assert reduced.text.split("\n") == [
        "java.util.ConcurrentModificationException",
        jdk[0],
        "\t... 4 library frames (java.util)",
        "\tat com.shop.Cart.removeExpired(Cart.java:88)",
        "\tat com.shop.CartTest.testRemoveExpired(CartTest.java:41)",
    ]


def test_brief_leaves_out_the_library_frames_a_model_need_not_read() -> None:
    runner = [f"\tat org.junit.runners.ParentRunner.run(ParentRunner.java:{n})" for n in range(30)]
    text = "\n".join(
        [
            "junit.framework.AssertionFailedError: expected:<3> but was:<4>",
            "\tat junit.framework.Assert.fail(Assert.java:57)",  # where it was thrown: kept
            "\tat junit.framework.Assert.failNotEquals(Assert.java:329)",
            "\tat junit.framework.Assert.assertEquals(Assert.java:78)",
            "\tat com.shop.CartTest.testTotal(CartTest.java:41)",
            "\tat sun.reflect.NativeMethodAccessorImpl.invoke0(Native Method)",
            *runner,
            "Caused by: java.lang.IllegalStateException: closed",
            "\tat java.util.Scanner.ensureOpen(Scanner.java:1070)",
            "\tat com.shop.Cart.total(Cart.java:12)",
            "\t... 31 more",
        ]
    )
    reduced = reduce_log(text)
    assert "library frames" in reduced.text  # the folded runs are counted in ``text``
    assert reduced.brief.split("\n") == [
        "junit.framework.AssertionFailedError: expected:<3> but was:<4>",
        "\tat junit.framework.Assert.fail(Assert.java:57)",
        "\tat com.shop.CartTest.testTotal(CartTest.java:41)",
        "Caused by: java.lang.IllegalStateException: closed",
        "\tat java.util.Scanner.ensureOpen(Scanner.java:1070)",
        "\tat com.shop.Cart.total(Cart.java:12)",
        "\t... 31 more",
    ]
    assert reduce_log("ValueError: bad").brief == "ValueError: bad"


def test_brief_counts_a_run_of_ids_instead_of_listing_it() -> None:
    blocks = " ".join(f"blk_{'-' if n % 2 else ''}{7000 + n * 9137}" for n in range(100))
    line = f"BLOCK* ask 10.250.17.177:50010 to delete  {blocks}"
    reduced = reduce_log(line)
    assert reduced.text == line  # the lookup reads every id
    assert reduced.brief == (
        "BLOCK* ask 10.250.17.177:50010 to delete  blk_7000 blk_-16137 … (98 more)"
    )
    for kept in (  # short runs, words, and ids of other shapes stay as they are
        "ports 8080 8081 8082 8083 open",
        "the the the the the the",
        "hosts 10.0.0.1 10.0.0.2 node-3 10.0.0.4 10.0.0.5 10.0.0.6",
        "Error: 1 2 3\n\tat com.shop.Cart.total(Cart.java:12)",
    ):
        assert reduce_log(kept).brief == kept
    hex_ids = reduce_log("ids 0x1f 0x2e 0x3d 0x4c 0x5b  then").brief
    assert hex_ids == "ids 0x1f 0x2e … (3 more)  then"
    message = "AssertionError: expected 1 2 3 4 5 6 but was 1 2 3 4 5 7"
    assert reduce_log(message).brief == message  # an exception's message is never cut
