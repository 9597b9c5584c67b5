"""Json files read with errors that name the file."""

import json
import os
from typing import Any, Union

__all__ = ["read_json"]


def read_json(path: Union[str, os.PathLike], what: str = "json file") -> Any:
    """The content of the json file ``path``.

    Raises:
        FileNotFoundError: ``path`` does not exist (the message says it is the ``what``).
        ValueError: ``path`` is not valid json (e.g. truncated) or not UTF-8: the message
            names the file and where parsing stopped.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(f"{what} {path} is not valid json (truncated or corrupt?): {error}") from error
    except UnicodeDecodeError as error:
        raise ValueError(f"{what} {path} is not a UTF-8 text file: {error}") from error
