"""The bundled offline news site and the `news-monitor demo` command built on it."""
