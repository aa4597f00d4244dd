"""The code's layout holds: one home per concept, as the README's layout section says; no
import cycle; no module far past 500 lines without a reason at its top; no function that
imports a name over one of its own parameters."""

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "ingestctl"
README = SRC.parent / "README.md"
LONG = 550


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every ingestctl module `name` imports, anywhere in it except under TYPE_CHECKING."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    skipped = {id(node) for branch in ast.walk(tree)
               if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
               for node in ast.walk(branch)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = (".".join(base + ([node.module] if node.module else []))
                      if node.level else node.module or "")
            for alias in node.names:
                if f"{module}.{alias.name}" in known:
                    out.add(f"{module}.{alias.name}")
                elif module in known:
                    out.add(module)
        elif isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name in known}
    out.discard(name)
    return out


def test_no_import_cycle():
    found = modules()
    graph = {name: imports(name, path, set(found)) for name, path in found.items()}
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = "open"
        path.append(node)
        for other in sorted(graph[node]):
            if state.get(other) == "open":
                cycle = path[path.index(other):] + [other]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if other not in state:
                visit(other)
        path.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_readme_layout_matches_the_tree():
    text = README.read_text()
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    listed, stack = set(), []
    for line in block.splitlines()[1:]:  # the first line is src/ingestctl/
        entry = line.strip().split()[0]
        depth = (len(line) - len(line.lstrip())) // 2 - 1
        assert line.strip() != entry, f"{entry}: one line that says what it holds"
        stack[depth:] = [entry.rstrip("/")]
        listed.add("/".join(stack) + ("/" if entry.endswith("/") else ""))
    actual = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")}
    actual |= {str(p.relative_to(PACKAGE)) + "/" for p in PACKAGE.rglob("*")
               if p.is_dir() and p.name != "__pycache__"}
    assert listed == actual, (f"missing from the README: {sorted(actual - listed)}; "
                              f"no longer in the tree: {sorted(listed - actual)}")


def test_modules_stay_short_or_say_why():
    for name, path in modules().items():
        lines = len(path.read_text().splitlines())
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert lines <= LONG or "longer than" in doc.lower(), (
            f"{name} has {lines} lines: split it by job, or say at its top why it is longer "
            f"than {LONG} lines")


def test_no_function_imports_over_its_own_parameter():
    """A local import named like a parameter silently replaces it (an --execute flag became
    the function `execute`, and every plan ran)."""
    for name, path in modules().items():
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            parameters = {a.arg for a in function.args.args + function.args.kwonlyargs}
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    for alias in node.names:
                        bound = alias.asname or alias.name.split(".")[0]
                        assert bound not in parameters, (
                            f"{name}.{function.name} imports {bound} over its parameter")
