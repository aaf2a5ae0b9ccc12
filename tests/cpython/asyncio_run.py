import asyncio


async def fetch(n):
    await asyncio.sleep(0)
    if n == 3:
        raise ConnectionError(f"fetch {n} failed")
    return n * 10


async def main():
    results = [await fetch(n) for n in range(3)]
    print("results", results)
    await fetch(3)


asyncio.run(main())
