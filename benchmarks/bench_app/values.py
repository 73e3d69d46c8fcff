"""The value dumbwaiter caches in the benchmark: a small report-like dict."""


def report() -> dict:
    """About what a dashboard would cache: a few dozen numbers and labels."""
    return {
        "title": "daily report",
        "rows": [{"day": day, "orders": day * 17, "revenue": day * 1234.5} for day in range(1, 31)],
    }
