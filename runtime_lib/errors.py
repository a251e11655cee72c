"""Errors that the runtime reports to the user as a message rather than a traceback."""


class JobError(Exception):
    """A problem with the job's inputs or environment (bad data file, unreachable server).

    The run loop prints ``str(error)`` and exits with status 1; the message must say what is
    wrong and where (file and line for data, host and port for servers).
    """
