"""The in-meeting Zoom App panel served at `/zoomapp/` (the Home URL registered in Zoom's Marketplace).

    app.add_middleware(ZoomAppHeaders)
    app.include_router(zoomapp_router(lambda: secret, get_store, get_bus))

`context` opens and checks the encrypted Zoom App context, `session` issues the meeting-scoped session that stands
in for it, `stream` is the panel's live feed, `routes` the HTTP side and `headers` the headers Zoom requires on
every response. `static/` holds the page and the bundled Zoom Apps SDK (`@zoom/appssdk`, MIT, with its licence).
"""

from bridge.zoomapp.headers import ZoomAppHeaders
from bridge.zoomapp.routes import zoomapp_router

__all__ = ["ZoomAppHeaders", "zoomapp_router"]
