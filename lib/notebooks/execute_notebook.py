"""Execute one notebook headless with nbclient and export it to HTML.

Usage: python3 execute_notebook.py SOURCE.ipynb OUT.ipynb OUT.html [TIMEOUT_S]

Runs cell by cell in a kernel started in the notebook's folder, stops at the
first failing cell, and always writes the executed copy and its HTML export
(so a failure can be inspected). On failure prints one line
`error: NOTEBOOK: cell N of M failed (FIRST SOURCE LINE): ENAME: EVALUE`
to stderr and exits 1. A cell counts as failed when the kernel replies with
an error status or when it produced an error output (some Deno versions
replied "ok" for failed cells). Called by lib/notebooks/execute.ts.
"""

import os
import re
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def one_line(text, limit=300):
    text = " ".join(ANSI.sub("", str(text)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_outputs(nb, out_ipynb, out_html):
    os.makedirs(os.path.dirname(os.path.abspath(out_ipynb)), exist_ok=True)
    nbformat.write(nb, out_ipynb)
    html, _ = HTMLExporter().from_notebook_node(nb)
    with open(out_html, "w", encoding="utf-8") as f:
        f.write(html)


def main():
    source, out_ipynb, out_html = sys.argv[1:4]
    timeout = int(sys.argv[4]) if len(sys.argv) > 4 else 1800
    nb = nbformat.read(source, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="deno",
        allow_errors=False,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(source))}},
    )
    failure = None
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as e:
                failure = (index, getattr(e, "ename", "Error"), getattr(e, "evalue", str(e)))
            else:
                errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                if errors:
                    failure = (index, errors[0].get("ename", "Error"), errors[0].get("evalue", ""))
            if failure:
                break
    nb.metadata.setdefault("cifar", {})["profile"] = os.environ.get("CIFAR_PROFILE", "full")
    write_outputs(nb, out_ipynb, out_html)
    if failure:
        index, ename, evalue = failure
        first = next((l for l in "".join(nb.cells[index].source).splitlines() if l.strip()), "")
        print(
            f"error: {source}: cell {index + 1} of {len(nb.cells)} failed "
            f"({one_line(first, 80)}): {one_line(ename, 60)}: {one_line(evalue)}",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
