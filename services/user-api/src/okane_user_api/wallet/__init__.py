"""The wallet: balance, money movement, history and contacts."""
