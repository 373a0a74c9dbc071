"""The HTML side of the hub: the status page (login, account, balance, last messages) and health."""
