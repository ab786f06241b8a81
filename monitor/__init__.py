"""news-monitor: watch feeds, read the articles behind them, alert on the rules you write."""

from __future__ import annotations

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/news-monitor/news-monitor"
USER_AGENT = f"news-monitor/{__version__} (+{PROJECT_URL})"

__all__ = ["PROJECT_URL", "USER_AGENT", "__version__"]
