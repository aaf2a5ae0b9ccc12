"""The reference for the local sandbox: a Jupyter kernel (ipykernel through
jupyter_client), what a Python user would otherwise run code in.
Prints medians in milliseconds as JSON.
Usage: kernel_reference.py <warm runs> <cold starts> <10 MB prints>"""
import json
import statistics
import sys
import time

from jupyter_client.manager import start_new_kernel


def execute(client, code, timeout=120):
    """Runs `code` and waits until the kernel is idle again; returns the
    number of characters of stream output."""
    msg_id = client.execute(code, store_history=False)
    received = 0
    while True:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "stream":
            received += len(msg["content"]["text"])
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            break
    client.get_shell_msg(timeout=timeout)
    return received


def median_ms(samples):
    return statistics.median(samples) * 1000


def main():
    warm_runs, cold_starts, big_prints = (int(a) for a in sys.argv[1:4])
    cold = []
    for _ in range(cold_starts):
        started = time.perf_counter()
        manager, client = start_new_kernel(kernel_name="python3")
        execute(client, "1")
        cold.append(time.perf_counter() - started)
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    manager, client = start_new_kernel(kernel_name="python3")
    execute(client, "1")
    warm = []
    for _ in range(warm_runs):
        started = time.perf_counter()
        execute(client, "1")
        warm.append(time.perf_counter() - started)
    big = []
    for _ in range(big_prints):
        started = time.perf_counter()
        received = execute(client, "print('x' * 10_000_000)")
        big.append(time.perf_counter() - started)
        assert received >= 10_000_000, received
    client.stop_channels()
    manager.shutdown_kernel(now=True)
    print(json.dumps({"warm_ms": median_ms(warm), "cold_ms": median_ms(cold), "print_10mb_ms": median_ms(big)}))


main()
