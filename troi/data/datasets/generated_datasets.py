"""Datasets a generator writes on first use (the synthetic videos and motion clips): made
once, and checked against the arguments they were made with afterwards."""

import inspect
import json
import os
from typing import Callable

__all__ = ["ensure_generated"]


def ensure_generated(
    generate: Callable,
    output_dir: str,
    args: tuple,
    kwargs: dict,
    generator_info: Callable,
    read_stamp: Callable,
    what: str,
) -> None:
    """``generate(output_dir, *args, **kwargs)`` unless ``output_dir`` exists. Safe when
    several processes call it at once (each generates; the first rename wins).

    Args:
        generator_info: the stamp ``generate`` writes, of its arguments but ``output_dir``.
        read_stamp: reads the stamp of the existing ``output_dir``.
        what: what the data are, for the error.

    Raises:
        ValueError: ``output_dir`` holds data generated with other arguments (or by another
            generator version); delete it or choose another directory.
    """
    if not os.path.isdir(output_dir):
        try:
            generate(output_dir, *args, **kwargs)
            return
        except FileExistsError:
            if not os.path.isdir(output_dir):
                raise
    arguments = inspect.signature(generate).bind(output_dir, *args, **kwargs)
    arguments.apply_defaults()
    del arguments.arguments["output_dir"]
    expected = json.loads(json.dumps(generator_info(**arguments.arguments)))
    found = read_stamp()
    if found != expected:
        raise ValueError(
            f"{output_dir} holds {what} generated with {found}, not {expected}: delete it to regenerate, or use "
            "another directory"
        )
