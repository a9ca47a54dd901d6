"""The emulator's HTTP routes, one router per resource, in the order the app serves them.

Every route is also served with a trailing slash (Adobe's spec and Postman collection write
some paths so), with no redirect: the gateway reads the path without it.
"""

from __future__ import annotations

from aep_emulator.routes import (
    adhoc,
    admin,
    catalog,
    connections,
    conversion,
    flows,
    ims,
    query,
    runs,
    segmentation,
    specs,
    ui,
)

ROUTERS = (
    ims.router,
    specs.router,
    connections.router,
    flows.router,
    runs.router,
    segmentation.router,
    adhoc.router,
    conversion.router,
    query.router,
    catalog.router,
    admin.router,
    ui.router,
)
