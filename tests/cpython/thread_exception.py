import threading


def worker():
    raise ValueError("failed in a thread")


t = threading.Thread(target=worker, name="worker-1")
t.start()
t.join()
print("main thread goes on")
