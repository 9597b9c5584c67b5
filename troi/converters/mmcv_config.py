"""Read an mmcv config file's text (``Config.pretty_text``) as plain Python data, safely.

mmtracking's training writes its merged config into every checkpoint it saves
(``meta['config']``), as ``mmcv.Config.pretty_text`` prints it: top-level assignments
``name = value`` whose values are literals, ``dict(key=value, ...)`` calls and
``{'key': value}`` / ``[...]`` / ``(...)`` displays. This module evaluates exactly that
subset (no names, no other calls, no imports), so reading a downloaded checkpoint's config
runs none of its code and needs no mmcv.
"""

import ast
from typing import Any, Dict

__all__ = ["MMCVConfigError", "parse_mmcv_config"]


class MMCVConfigError(ValueError):
    """The text is not an mmcv config in ``pretty_text`` form."""


def parse_mmcv_config(text: str, source: str = "<config>") -> Dict[str, Any]:
    """``{name: value}`` of the top-level assignments of an mmcv config's text.

    Args:
        text: the config file's text (e.g. a checkpoint's ``meta['config']``).
        source: what to call the text in error messages (a file name).

    Raises:
        MMCVConfigError: a syntax error, or a statement or expression outside the subset
            above, naming ``source`` and the line.
    """
    try:
        module = ast.parse(text, filename=source)
    except SyntaxError as error:
        raise MMCVConfigError(f"{source}: line {error.lineno}: not valid Python: {error.msg}") from error
    config = {}
    for statement in module.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # a docstring
        if not (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            raise MMCVConfigError(
                f"{source}: line {statement.lineno}: expected 'name = value', got {type(statement).__name__}"
            )
        config[statement.targets[0].id] = _value(statement.value, source)
    return config


def _value(node: ast.AST, source: str) -> Any:
    """The Python value of one expression of the subset."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _value(node.operand, source)
        if isinstance(operand, (int, float)) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.List):
        return [_value(element, source) for element in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_value(element, source) for element in node.elts)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_value(key, source): _value(value, source) for key, value in zip(node.keys, node.values)}
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and not node.args
        and all(keyword.arg is not None for keyword in node.keywords)
    ):
        return {keyword.arg: _value(keyword.value, source) for keyword in node.keywords}
    raise MMCVConfigError(
        f"{source}: line {getattr(node, 'lineno', '?')}: unsupported expression "
        f"{ast.unparse(node)!r} (an mmcv pretty_text config holds literals and dict(...) only)"
    )
