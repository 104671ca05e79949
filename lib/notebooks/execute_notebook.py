"""Execute one notebook headless on Deno's Jupyter kernel and export it to HTML.

Usage: python3 execute_notebook.py SOURCE.ipynb OUT.ipynb OUT.html [TIMEOUT_S]

Runs cell by cell in a kernel started in the notebook's folder, stops at the
first failing cell, and always writes the executed copy and its HTML export
(so a failure can be inspected). On failure prints one line
`error: NOTEBOOK: cell N of M failed (FIRST SOURCE LINE): ENAME: EVALUE`
to stderr and exits 1. Called by lib/notebooks/execute.ts.

Why not nbclient's loop: Deno's kernel (2.9) can publish a large output (a
chart carrying plotly.js) after it reported the cell "idle", and nbclient
then drops it or gives a later output to the wrong cell. Here every iopub
message goes to the cell whose request is its parent, whenever it arrives,
and the kernel is drained until quiet before the notebook is written. The
next cell is sent only after the previous one's idle status and a short quiet
spell, because the kernel tags output still queued with the request it is
handling when the output goes out (SETTLE_S). A cell
fails when the kernel replies with an error status or the cell got an error
output (an older Deno replied "ok" for failed cells).
"""

import os
import queue
import re
import sys
import time

import nbformat
from jupyter_client.manager import KernelManager
from nbconvert import HTMLExporter

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# After the last reply, outputs may still be in flight: iopub can lag behind shell replies by
# seconds under load (a chart carrying the 1.5 MB plotly bundle), so first wait for every
# request's idle status, then for this long with no message at all.
QUIET_S = 3.0
# Deno's kernel gives an output the parent of the request it is handling when the output goes
# out, not of the one that made it: stdout still queued when the next request arrives lands in
# the next cell (seen under load: a cell's console.log under the following cell). So the next
# request waits for this one's idle status and then this long with no iopub message.
SETTLE_S = 0.25


def one_line(text, limit=300):
    text = " ".join(ANSI.sub("", str(text)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Outputs:
    """Routes kernel messages to cell outputs by parent request id."""

    def __init__(self):
        self.cells = {}  # msg_id -> cell
        self.displays = {}  # display_id -> [output, ...]
        self.idle = set()  # msg_ids whose execution the kernel reported finished

    def handle(self, msg):
        cell = self.cells.get(msg["parent_header"].get("msg_id"))
        kind, content = msg["msg_type"], msg["content"]
        if kind == "status" and content.get("execution_state") == "idle":
            self.idle.add(msg["parent_header"].get("msg_id"))
        if cell is None:
            return
        if kind == "clear_output":
            cell.outputs = []
            return
        if kind == "update_display_data":
            for out in self.displays.get(content.get("transient", {}).get("display_id"), []):
                out["data"] = content["data"]
                out["metadata"] = content.get("metadata", {})
            return
        if kind not in ("execute_result", "display_data", "stream", "error"):
            return
        out = nbformat.v4.output_from_msg(msg)
        if kind == "stream" and cell.outputs and cell.outputs[-1].get("output_type") == "stream" \
                and cell.outputs[-1].get("name") == out.name:
            cell.outputs[-1].text += out.text
            return
        display_id = content.get("transient", {}).get("display_id")
        if display_id:
            self.displays.setdefault(display_id, []).append(out)
        cell.outputs.append(out)


# Deno's kernel (2.9) under heavy CPU load sometimes interleaves the frames of two messages it
# sends at once: the client then sees a bad signature or a missing delimiter. Such messages are
# dropped and counted; a notebook that lost any is executed again (its runs are seeded).
CORRUPTED = [0]
ATTEMPTS = 3


def corrupted(error):
    text = str(error)
    if "Invalid Signature" not in text and "<IDS|MSG>" not in text:
        raise error
    CORRUPTED[0] += 1


def drain(kc, outputs, until=None, timeout=None, quiet=None):
    """Handle iopub messages until `until()` is true, the timeout passes, or it is quiet."""
    start = last = time.monotonic()
    while True:
        now = time.monotonic()
        if until and until():
            return True
        if timeout is not None and now - start > timeout:
            return False
        if quiet is not None and now - last > quiet:
            return True
        try:
            msg = kc.get_iopub_msg(timeout=0.05)
        except queue.Empty:
            continue
        except ValueError as e:
            corrupted(e)
            continue
        last = time.monotonic()
        outputs.handle(msg)


def run(nb, cwd, timeout):
    """Execute code cells in order; return (index, ename, evalue) of the first failure or None."""
    km = KernelManager(kernel_name="deno")
    km.start_kernel(cwd=cwd, env=dict(os.environ))
    kc = km.client()
    kc.start_channels()
    outputs = Outputs()
    failure = None
    try:
        kc.wait_for_ready(timeout=120)
        count = 0
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            cell.outputs = []
            msg_id = kc.execute("".join(cell.source), allow_stdin=False)
            outputs.cells[msg_id] = cell
            reply = {}
            lost_reply = []

            def replied():
                try:
                    msg = kc.get_shell_msg(timeout=0)
                except queue.Empty:
                    return False
                except ValueError as e:
                    corrupted(e)  # the notebook is executed again (see main)
                    lost_reply.append(True)
                    return True
                if msg["parent_header"].get("msg_id") != msg_id:
                    return False
                reply.update(msg["content"])
                return True

            if not drain(kc, outputs, until=replied, timeout=timeout):
                km.interrupt_kernel()
                failure = (index, "Timeout", f"cell still running after {timeout} s")
                break
            if lost_reply:
                failure = (index, "KernelMessageCorrupted", "the kernel's reply could not be read")
                break
            count += 1
            cell.execution_count = reply.get("execution_count", count)
            for out in cell.outputs:
                if out.get("output_type") == "execute_result":
                    out["execution_count"] = cell.execution_count
            if reply.get("status") == "error":
                failure = (index, reply.get("ename", "Error"), reply.get("evalue", ""))
                break
            drain(kc, outputs, until=lambda: CORRUPTED[0] or msg_id in outputs.idle, timeout=60)
            drain(kc, outputs, quiet=SETTLE_S, timeout=10)
        drain(
            kc,
            outputs,
            until=lambda: CORRUPTED[0] or outputs.cells.keys() <= outputs.idle,
            timeout=300,
        )
        drain(kc, outputs, quiet=QUIET_S, timeout=120)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    for index, cell in enumerate(nb.cells):
        if failure and index >= failure[0]:
            break
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            return (index, errors[0].get("ename", "Error"), errors[0].get("evalue", ""))
    return failure


def main():
    source, out_ipynb, out_html = sys.argv[1:4]
    timeout = int(sys.argv[4]) if len(sys.argv) > 4 else 1800
    for attempt in range(1, ATTEMPTS + 1):
        nb = nbformat.read(source, as_version=4)
        CORRUPTED[0] = 0
        failure = run(nb, os.path.dirname(os.path.abspath(source)), timeout)
        if not CORRUPTED[0]:
            break
        print(
            f"warning: {source}: {CORRUPTED[0]} kernel message(s) arrived corrupted"
            + (f"; executing it again ({attempt + 1}/{ATTEMPTS})" if attempt < ATTEMPTS else ""),
            file=sys.stderr,
        )
    nb.metadata.setdefault("cifar", {})["profile"] = os.environ.get("CIFAR_PROFILE", "full")
    os.makedirs(os.path.dirname(os.path.abspath(out_ipynb)), exist_ok=True)
    nbformat.write(nb, out_ipynb)
    html, _ = HTMLExporter().from_notebook_node(nb)
    with open(out_html, "w", encoding="utf-8") as f:
        f.write(html)
    if CORRUPTED[0]:
        # Every attempt lost messages: the saved copy may lack outputs, so it must not pass.
        print(
            f"error: {source}: the Deno kernel's messages arrived corrupted in all {ATTEMPTS} "
            "executions (a heavily loaded machine); outputs may be missing: run it again",
            file=sys.stderr,
        )
        sys.exit(1)
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
