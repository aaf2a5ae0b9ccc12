class Account:
    def __init__(self, balance):
        self.balance = balance

    def withdraw(self, amount):
        if amount > self.balance:
            raise ValueError(f"insufficient funds: {self.balance} < {amount}")
        self.balance -= amount

    @property
    def doubled(self):
        return self.balance * self.missing_attr

    @classmethod
    def empty(cls):
        return cls(0)

    @staticmethod
    def check(x):
        return x.upper()


account = Account.empty()
try:
    account.doubled
except AttributeError as e:
    print("caught:", e)
account.withdraw(5)
