"""Reading the user's files with clear errors, and writing ours atomically."""
import os
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


def check_writable(path, what):
    """Fail now, not after hours of training, if `path` cannot be written."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UserError(f"{what} {path!r} is a directory, not a file path")
    if not os.path.isdir(directory):
        raise UserError(f"cannot write {what} {path!r}: the directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {what} {path!r}: the directory {directory!r} is not writable")


def atomic_write(path, write):
    """Call write(binary_file) on a temporary file beside `path`, then rename it over `path`.

    A crash or a full disk leaves the previous file intact, never a truncated one.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def atomic_write_text(path, text):
    """Write UTF-8 text to `path` atomically."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
