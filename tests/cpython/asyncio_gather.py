import asyncio


async def work(n):
    await asyncio.sleep(0.01 * n)
    return n


async def main():
    values = await asyncio.gather(*(work(n) for n in range(4)))
    print(values)


asyncio.run(main())
