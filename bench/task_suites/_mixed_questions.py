"""The questions of the ``mixed`` suite and the documents they are about (data, written by hand).

Each ``Question`` names one or two defaults that the Node.js v20 API reference states, asks for
a number computed from them, and carries the snippets (file, exact text) that state them; the
expected value is written as the arithmetic on the documented numbers. Every snippet was checked
against the documents by hand, and ``Mixed.load`` checks them again at run time. The documents
are MIT-licensed (Node.js; ``/usr/share/doc/nodejs/LICENSE``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DOCS_DIR = Path("/usr/share/doc/nodejs/api")
DOC_FILES = (
    "buffer.md",
    "child_process.md",
    "cli.md",
    "crypto.md",
    "dns.md",
    "events.md",
    "fs.md",
    "http.md",
    "http2.md",
    "net.md",
    "perf_hooks.md",
    "querystring.md",
    "readline.md",
    "repl.md",
    "stream.md",
    "tls.md",
    "util.md",
    "worker_threads.md",
    "zlib.md",
)


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answer: float
    support: tuple[tuple[str, str], ...]  # (file in DOC_FILES, snippet that states the fact)


def _q(qid: str, question: str, answer: float, *support: tuple[str, str]) -> Question:
    return Question(qid, question, float(answer), support)


_DOCS = "According to the Node.js API documentation"
QUESTIONS: tuple[Question, ...] = (
    # ---- http ----
    _q(
        "http-keepalive-timeout-per-hour",
        f"{_DOCS}, what is the default server.keepAliveTimeout of an HTTP server? How many of "
        "those idle timeouts fit into one hour?",
        3_600_000 / 5000,
        ("http.md", "* {number} Timeout in milliseconds. **Default:** `5000` (5 seconds)."),
    ),
    _q(
        "http-request-timeout-minutes",
        f"{_DOCS}, what is the default server.requestTimeout of an HTTP server? Express it in "
        "minutes and multiply by 12.",
        300_000 / 60_000 * 12,
        ("http.md", "* {number} **Default:** `300000` Sets the timeout value in milliseconds"),
    ),
    _q(
        "http-headers-timeout-squared",
        f"{_DOCS}, what is the default headersTimeout option of http.createServer()? Take that "
        "value in seconds and square it.",
        (60_000 / 1000) ** 2,
        ("http.md", "See [`server.headersTimeout`][] for more information. **Default:** `60000`."),
    ),
    _q(
        "http-connections-checking-per-10min",
        f"{_DOCS}, what is the default connectionsCheckingInterval of http.createServer()? How "
        "many checks happen in 10 minutes?",
        600_000 / 30_000,
        ("http.md", "headers timeout in incomplete requests. **Default:** `30000`."),
    ),
    _q(
        "http-max-headers-bytes",
        f"{_DOCS}, what is the default request.maxHeadersCount? If every response header "
        "averaged 48 bytes, how many bytes would a response with exactly that many headers carry?",
        2000 * 48,
        ("http.md", "* {number} **Default:** `2000` Limits maximum response headers count."),
    ),
    _q(
        "http-agent-free-sockets-7-hosts",
        f"{_DOCS}, what is the default maxFreeSockets of an http.Agent? With keepAlive on and 7 "
        "hosts, at most how many free sockets stay open in total?",
        256 * 7,
        (
            "http.md",
            "in a free state. Only relevant if `keepAlive` is set to `true`. **Default:** `256`.",
        ),
    ),
    _q(
        "http-agent-keepalive-msecs",
        f"{_DOCS}, what is the default keepAliveMsecs of an http.Agent? How many of those "
        "delays fit into 2.5 minutes?",
        150_000 / 1000,
        ("http.md", "`keepAlive` option is `false` or `undefined`. **Default:** `1000`."),
    ),
    _q(
        "http-idle-parsers-eighth",
        f"{_DOCS}, what is the default max of http.setMaxIdleHTTPParsers()? Divide it by 8.",
        1000 / 8,
        ("http.md", "* `max` {number} **Default:** `1000`. Set the maximum number of idle HTTP"),
    ),
    _q(
        "http-max-header-size-left",
        f"{_DOCS}, what is the default maxHeaderSize of http.createServer(), in bytes? If the "
        "request headers already use 12,000 bytes, how many bytes are left?",
        16384 - 12_000,
        ("http.md", "the maximum length of request headers in bytes. **Default:** 16384 (16 KiB)."),
    ),
    # ---- http2 ----
    _q(
        "http2-frame-over-table",
        f"{_DOCS}, in the HTTP/2 settings object, how many times larger is the default "
        "maxFrameSize than the default headerTableSize?",
        16384 / 4096,
        ("http2.md", "is 2<sup>32</sup>-1. **Default:** `4096`."),
        ("http2.md", "2<sup>24</sup>-1. **Default:** `16384`."),
    ),
    _q(
        "http2-window-minus-frame",
        f"{_DOCS}, in the HTTP/2 settings object, what is the default initialWindowSize minus "
        "the default maxFrameSize?",
        65535 - 16384,
        (
            "http2.md",
            "bytes for stream-level flow control. The minimum allowed value is 0. The maximum "
            "allowed value is 2<sup>32</sup>-1. **Default:** `65535`.",
        ),
        ("http2.md", "2<sup>24</sup>-1. **Default:** `16384`."),
    ),
    _q(
        "http2-max-concurrent-streams",
        f"{_DOCS}, what is the default maxConcurrentStreams in the HTTP/2 settings object? Add "
        "1 and divide by 65536.",
        (4_294_967_295 + 1) / 65536,
        (
            "http2.md",
            "is 0. The maximum allowed value is 2<sup>32</sup>-1. **Default:** `4294967295`.",
        ),
    ),
    _q(
        "http2-invalid-frames-over-peer-streams",
        f"{_DOCS}, for http2.createServer(), what is the default maxSessionInvalidFrames divided "
        "by the default peerMaxConcurrentStreams?",
        1000 / 100,
        (
            "http2.md",
            "frames that will be tolerated before the session is closed. **Default:** `1000`.",
        ),
        ("http2.md", "`maxConcurrentStreams`. **Default:** `100`."),
    ),
    _q(
        "http2-server-timeout-per-day",
        f"{_DOCS}, what is the default msecs of server.setTimeout() for an HTTP/2 secure "
        "server? How many such timeouts fit into one day?",
        86_400_000 / 120_000,
        ("http2.md", "* `msecs` {number} **Default:** `120000` (2 minutes)"),
    ),
    # ---- util ----
    _q(
        "util-break-length-over-depth",
        f"{_DOCS}, what is the default breakLength of util.inspect() divided by its default depth?",
        80 / 2,
        ("util.md", "or any number >= `1`). **Default:** `80`."),
        ("util.md", "the maximum call stack size pass `Infinity` or `null`. **Default:** `2`."),
    ),
    _q(
        "util-max-array-length-hidden",
        f"{_DOCS}, what is the default maxArrayLength of util.inspect()? For an array of 1,234 "
        "elements, how many elements are left out of the output?",
        1234 - 100,
        ("util.md", "negative to show no elements. **Default:** `100`."),
    ),
    _q(
        "util-max-string-length-hidden",
        f"{_DOCS}, what is the default maxStringLength of util.inspect()? For a string of "
        "25,000 characters, how many characters are left out?",
        25_000 - 10_000,
        ("util.md", "Set to `0` or negative to show no characters. **Default:** `10000`."),
    ),
    _q(
        "util-compact-times-break-length",
        f"{_DOCS}, what is the default compact value of util.inspect() multiplied by its "
        "default breakLength?",
        3 * 80,
        ("util.md", "information, see the example below. **Default:** `3`."),
        ("util.md", "or any number >= `1`). **Default:** `80`."),
    ),
    # ---- readline ----
    _q(
        "readline-history-dropped",
        f"{_DOCS}, what is the default historySize of a readline interface? If a user enters "
        "100 lines, how many of them are no longer kept in the history?",
        100 - 30,
        (
            "readline.md",
            "the history caching mechanism is not initialized at all. **Default:** `30`.",
        ),
    ),
    _q(
        "readline-crlf-plus-escape",
        f"{_DOCS}, what is the default crlfDelay plus the default escapeCodeTimeout of "
        "readline.createInterface(), in milliseconds?",
        100 + 500,
        ("readline.md", "with `\\r\\n` line delimiter). **Default:** `100`."),
        (
            "readline.md",
            "take additional input to complete a longer key sequence). **Default:** `500`.",
        ),
    ),
    _q(
        "readline-tab-spaces",
        f"{_DOCS}, how many spaces is a tab by default in readline.createInterface() "
        "(tabSize)? How many spaces do 13 tabs make?",
        13 * 8,
        ("readline.md", "The number of spaces a tab is equal to (minimum 1). **Default:** `8`."),
    ),
    # ---- child_process ----
    _q(
        "child-process-max-buffer",
        f"{_DOCS}, what is the default maxBuffer of child_process.exec(), in bytes? Subtract "
        "48,576 from it.",
        1024 * 1024 - 48_576,
        (
            "child_process.md",
            "See caveat at [`maxBuffer` and Unicode][]. **Default:** `1024 * 1024`.",
        ),
    ),
    # ---- crypto ----
    _q(
        "crypto-scrypt-memory-mib",
        f"{_DOCS}, crypto.scrypt() needs about 128 * N * r bytes. With the default cost (N) and "
        "blockSize (r), how many MiB is that?",
        128 * 16384 * 8 / (1024 * 1024),
        ("crypto.md", "than one. **Default:** `16384`."),
        ("crypto.md", "* `blockSize` {number} Block size parameter. **Default:** `8`."),
    ),
    _q(
        "crypto-scrypt-maxmem-plus-p",
        f"{_DOCS}, what is the default maxmem of crypto.scrypt() in MiB, plus its default "
        "parallelization?",
        32 + 1,
        ("crypto.md", "`128 * N * r > maxmem`. **Default:** `32 * 1024 * 1024`."),
        ("crypto.md", "* `parallelization` {number} Parallelization parameter. **Default:** `1`."),
    ),
    _q(
        "crypto-rsa-exponent",
        f"{_DOCS}, what is the default RSA publicExponent of crypto.generateKeyPair(), as a "
        "decimal number? Subtract 1 and divide by 256.",
        (0x10001 - 1) / 256,
        (
            "crypto.md",
            "* `publicExponent`: {number} Public exponent (RSA). **Default:** `0x10001`.",
        ),
    ),
    # ---- fs ----
    _q(
        "fs-watchfile-12-polls",
        f"{_DOCS}, what is the default polling interval of fs.watchFile() in milliseconds? "
        "How many milliseconds do 12 polls take?",
        12 * 5007,
        ("fs.md", "* `interval` {integer} **Default:** `5007`"),
    ),
    _q(
        "fs-read-stream-chunks",
        f"{_DOCS}, what is the default highWaterMark of fs.createReadStream()? How many full "
        "chunks of that size make a 10 MiB file?",
        10 * 1024 * 1024 / (64 * 1024),
        ("fs.md", "* `highWaterMark` {integer} **Default:** `64 * 1024`"),
    ),
    _q(
        "fs-opendir-buffers",
        f"{_DOCS}, what is the default bufferSize of fs.opendir()? How many full buffers does "
        "a directory of 960 entries take?",
        960 / 32,
        ("fs.md", "performance but higher memory usage. **Default:** `32`"),
    ),
    _q(
        "fs-rm-retry-delay",
        f"{_DOCS}, what is the default retryDelay of fs.rm() in milliseconds? If each of 7 "
        "retries waited exactly that long, how many milliseconds would they wait in total?",
        7 * 100,
        (
            "fs.md",
            "This option is ignored if the `recursive` option is not `true`. **Default:** `100`.",
        ),
    ),
    _q(
        "fs-mkdir-minus-open-mode",
        f"{_DOCS}, the default mode of fsPromises.mkdir() and the default mode of "
        "fsPromises.open() are octal numbers. Convert both to decimal: what is the first minus "
        "the second?",
        0o777 - 0o666,
        ("fs.md", "* `mode` {string|integer} Not supported on Windows. **Default:** `0o777`."),
        ("fs.md", "if the file is created. **Default:** `0o666` (readable and writable)"),
    ),
    _q(
        "fs-read-over-write-hwm",
        f"{_DOCS}, what is the default highWaterMark of fs.createReadStream() divided by the "
        "default highWaterMark of fs.createWriteStream()?",
        (64 * 1024) / 16384,
        ("fs.md", "* `highWaterMark` {integer} **Default:** `64 * 1024`"),
        ("fs.md", "* `highWaterMark` {number} **Default:** `16384`"),
    ),
    # ---- tls ----
    _q(
        "tls-renegotiations-per-hour",
        f"{_DOCS}, TLS client renegotiation is limited by tls.CLIENT_RENEG_LIMIT per "
        "tls.CLIENT_RENEG_WINDOW. At the defaults, at most how many renegotiations are allowed "
        "in one hour?",
        3 * 3600 / 600,
        ("tls.md", "Specifies the number of renegotiation requests. **Default:** `3`."),
        ("tls.md", "in seconds. **Default:** `600` (10 minutes)."),
    ),
    _q(
        "tls-session-timeouts-per-day",
        f"{_DOCS}, what is the default sessionTimeout of a TLS server, in seconds? How many "
        "such session lifetimes fit into one day?",
        86_400 / 300,
        ("tls.md", "[Session Resumption][] for more information. **Default:** `300`."),
    ),
    _q(
        "tls-handshake-timeout-minutes",
        f"{_DOCS}, what is the default handshakeTimeout of tls.createServer()? Express it in "
        "minutes and multiply by 15.",
        120_000 / 60_000 * 15,
        ("tls.md", "a handshake times out. **Default:** `120000` (120 seconds)."),
    ),
    _q(
        "tls-min-dh-size-bytes",
        f"{_DOCS}, what is the default minDHSize of tls.connect(), in bits? How many bytes is "
        "that?",
        1024 / 8,
        ("tls.md", "the TLS connection is destroyed and an error is thrown. **Default:** `1024`."),
    ),
    _q(
        "tls-fragments-per-mib",
        f"{_DOCS}, what is the default maximum TLS fragment size of "
        "tlsSocket.setMaxSendFragment()? How many such fragments carry 1 MiB?",
        1024 * 1024 / 16384,
        (
            "tls.md",
            "The maximum TLS fragment size. The maximum value is `16384`. **Default:** `16384`.",
        ),
    ),
    # ---- zlib ----
    _q(
        "zlib-deflate-memory-formula",
        f"{_DOCS}, use the documented formula for the memory deflate needs (zlib) to compute "
        "the bytes needed with windowBits 13 and memLevel 6.",
        (1 << (13 + 2)) + (1 << (6 + 9)),
        ("zlib.md", "(1 << (windowBits + 2)) + (1 << (memLevel + 9))"),
    ),
    _q(
        "zlib-deflate-default-memory-4-streams",
        f"{_DOCS}, how much memory does zlib deflate need with the default windowBits and "
        "memLevel (ignore the few extra kilobytes)? How many KiB do 4 such streams need?",
        4 * (128 + 128),
        ("zlib.md", "That is: 128K for `windowBits` = 15 + 128K for `memLevel` = 8"),
    ),
    _q(
        "zlib-inflate-plus-chunk",
        f"{_DOCS}, zlib inflate needs 1 << windowBits bytes. At the default windowBits, plus one "
        "output buffer of the default chunkSize, how many bytes is that?",
        (1 << 15) + 16 * 1024,
        ("zlib.md", "That is, 32K for `windowBits` = 15 (default value)"),
        ("zlib.md", "`chunkSize`, which defaults to 16K."),
    ),
    # ---- stream ----
    _q(
        "stream-hwm-bytes-over-objects",
        f"{_DOCS}, what is the default highWaterMark of a Readable stream divided by the "
        "default highWaterMark of an objectMode stream?",
        16384 / 16,
        ("stream.md", "**Default:** `16384` (16 KiB), or `16` for `objectMode` streams."),
    ),
    # ---- buffer ----
    _q(
        "buffer-pool-size-kib",
        f"{_DOCS}, what is the default Buffer.poolSize? Express it in KiB and multiply by 3.",
        8192 / 1024 * 3,
        (
            "buffer.md",
            "* {integer} **Default:** `8192` This is the size (in bytes) of pre-allocated",
        ),
    ),
    _q(
        "buffer-inspect-hidden",
        f"{_DOCS}, what is the default buffer.INSPECT_MAX_BYTES? For a 256-byte Buffer, how many "
        "bytes does buf.inspect() leave out?",
        256 - 50,
        ("buffer.md", "* {integer} **Default:** `50` Returns the maximum number of bytes"),
    ),
    # ---- events, dns, repl, worker_threads, net ----
    _q(
        "events-max-listeners-4-events",
        f"{_DOCS}, how many listeners can be registered for a single event by default before "
        "a warning? An emitter has 4 event names: how many listeners in total at most?",
        4 * 10,
        ("events.md", "By default, a maximum of `10` listeners can be registered for any single"),
    ),
    _q(
        "dns-resolver-tries",
        f"{_DOCS}, how many times does a dns.Resolver try each name server by default (tries)? "
        "With 3 name servers, how many tries in total at most?",
        3 * 4,
        ("dns.md", "each name server before giving up. **Default:** `4`"),
    ),
    _q(
        "repl-history-minus-readline",
        f"{_DOCS}, what is the default NODE_REPL_HISTORY_SIZE minus the default historySize of "
        "a readline interface?",
        1000 - 30,
        (
            "repl.md",
            "persisted if history is available. Must be a positive number. **Default:** `1000`.",
        ),
        (
            "readline.md",
            "the history caching mechanism is not initialized at all. **Default:** `30`.",
        ),
    ),
    _q(
        "worker-stack-8-workers",
        f"{_DOCS}, what is the default stackSizeMb of a Worker's resourceLimits? How many MB of "
        "stack do 8 workers get by default?",
        8 * 4,
        (
            "worker_threads.md",
            "Small values may lead to unusable Worker instances. **Default:** `4`.",
        ),
    ),
    _q(
        "net-backlog",
        f"{_DOCS}, what is the default backlog of net server listen()? Add 1 and double it.",
        (511 + 1) * 2,
        ("net.md", "The default value of this parameter is 511 (not 512)."),
    ),
    _q(
        "net-autoselect-attempts",
        f"{_DOCS}, what is the initial default autoSelectFamilyAttemptTimeout of net sockets, "
        "in milliseconds? How many such attempts fit into 2 seconds?",
        2000 / 250,
        (
            "net.md",
            "The initial default value is `250` or the value specified via the command line",
        ),
    ),
    # ---- cli, querystring, perf_hooks ----
    _q(
        "cli-inspector-fourth-port",
        f"{_DOCS}, what is the default port of --inspect? If 4 Node.js processes use "
        "consecutive ports starting at that port, what is the last port?",
        9229 + 3,
        ("cli.md", "Activate inspector on `host:port`. Default is `127.0.0.1:9229`."),
    ),
    _q(
        "cli-stack-trace-chars",
        f"{_DOCS}, what is the default --stack-trace-limit? If each frame line is 60 "
        "characters, how many characters does a full stack trace at that limit have?",
        10 * 60,
        ("cli.md", "Setting it to 0 disables stack trace collection. The default value is 10."),
    ),
    _q(
        "cli-cpu-prof-samples",
        f"{_DOCS}, what is the default --cpu-prof-interval in microseconds? How many samples "
        "are taken in 2.5 seconds?",
        2_500_000 / 1000,
        ("cli.md", "by `--cpu-prof`. The default is 1000 microseconds."),
    ),
    _q(
        "cli-heap-prof-samples",
        f"{_DOCS}, what is the default --heap-prof-interval in bytes? On average, how many "
        "samples are taken while 64 MiB are allocated?",
        64 * 1024 * 1024 / (512 * 1024),
        ("cli.md", "by `--heap-prof`. The default is 512 \\* 1024 bytes."),
    ),
    _q(
        "querystring-max-keys-ignored",
        f"{_DOCS}, what is the default maxKeys of querystring.parse()? For a query string with "
        "1,250 keys, how many keys are not parsed?",
        1250 - 1000,
        ("querystring.md", "Specify `0` to remove key counting limitations. **Default:** `1000`."),
    ),
    _q(
        "perf-resource-buffer-4",
        f"{_DOCS}, what is the default maximum size of the performance resource timing buffer? "
        "How many entries do 4 full buffers of that size hold?",
        4 * 250,
        ("perf_hooks.md", "By default the max buffer size is set to 250."),
    ),
)
