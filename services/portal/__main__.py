"""`python -m services.portal`: the pages and the API gateway on one origin."""

from __future__ import annotations

import os

import uvicorn

from services.portal.bootstrap import PORT, PortalSettings, create_app
from shared.runtime.logs import configure_logging


def main() -> None:
    settings = PortalSettings()
    if "GOV_HTTP_PORT" not in os.environ:
        settings.http_port = PORT
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port,
                log_config=None, access_log=False)


if __name__ == "__main__":
    main()
