"""Installing a build's wheels: which installer (``choice``: pip, uv or pip+uv), pip and uv
themselves, the package index they ask, and drift (newer releases the runtime cannot take)."""
