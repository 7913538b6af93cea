"""The web UI's pages, one module per area; ``moorage.http.ui.routes`` lists their routes."""
