"""The checker, interpreter and child process of the ``run_python`` tool (``tools.run_python``).

Standard library only, with relative imports: the child process (``python -I -S``) imports this
package from the ``tools`` directory, without site-packages."""
