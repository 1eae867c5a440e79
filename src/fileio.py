"""Reading the user's files with clear errors, and writing ours atomically."""
import os
import stat
import tempfile


class UserError(Exception):
    """A problem with the user's input or files: reported as one line, without a traceback."""


def read_text(path, what):
    """The whole UTF-8 text of a file (a BOM dropped, line endings turned into '\\n').

    Raises UserError, naming `what` the file is, if it cannot be read or holds no text.
    """
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise UserError(f"{what} {path!r} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise UserError(f"cannot read {what} {path!r}: {e.strerror or e}") from None
    if not text.strip():
        raise UserError(f"{what} {path!r} is empty")
    return text


def check_output(path, what, inputs=()):
    """Fail now, not after hours of training, if `path` cannot take our output.

    Refuses an empty path, a directory, a FIFO or device node (never replaced by a file), and any
    of `inputs` ((path, what) pairs: the run's own input files). A symlink is written through:
    the file it points to is replaced, the link stays.
    """
    if not path:
        raise UserError(f"the {what} path is empty")
    if path.endswith(os.sep) or (os.altsep and path.endswith(os.altsep)) or os.path.isdir(path):
        raise UserError(f"{what} {path!r} is a directory (or names one), not a file path")
    if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
        raise UserError(f"{what} {path!r} is {_kind(path)}, not a regular file: it would not be replaced; "
                        f"choose a file path")
    for other, other_what in inputs:
        if other is not None and same_file(path, other):
            raise UserError(f"{what} {path!r} is the {other_what}: refusing to overwrite an input of this run")
    directory = os.path.dirname(os.path.realpath(path))
    if not os.path.isdir(directory):
        raise UserError(f"cannot write {what} {path!r}: the directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {what} {path!r}: the directory {directory!r} is not writable")


def same_file(a, b):
    """True if paths a and b name the same file (through links), whether or not it exists yet."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _kind(path):
    mode = os.stat(path).st_mode
    for test, name in [(stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]:
        if test(mode):
            return name
    return "not a regular file"


def atomic_write(path, write):
    """Call write(binary_file) on a temporary file beside `path`, then rename it over `path`.

    A crash or a full disk leaves the previous file intact, never a truncated one; an OSError
    becomes a UserError naming the file and the cause. A symlink is written through.
    """
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    temporary = None
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
    except BaseException as e:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(e, OSError):
            raise UserError(f"cannot write {os.fspath(path)!r}: {e.strerror or e}") from None
        raise


def atomic_write_text(path, text):
    """Write UTF-8 text to `path` atomically."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
