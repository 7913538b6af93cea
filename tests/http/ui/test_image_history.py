"""The image page's Dockerfile and Layers tables, from the config's history matched with the
manifest's layers (``registry.browse``'s ``DockerfileLine`` and ``Layer``)."""

from __future__ import annotations

import json
import re

from tests.http.ui import content
from tests.inprocess import InProcessApp

GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"


async def test_dockerfile_lines_name_the_layers_they_made(inproc: InProcessApp) -> None:
    async with inproc.client() as admin:
        layers = [b"first layer " * 10, b"second layer " * 20]
        digests = [await content.blob(admin, "admin/app", data) for data in layers]
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": digests},
                "history": [
                    {"created_by": "ADD rootfs.tar /"},
                    {"created_by": 'CMD ["sh"]', "empty_layer": True},
                    {"created_by": "RUN make install", "comment": "buildkit.dockerfile.v0"},
                ],
            }
        ).encode()
        config_digest = await content.blob(admin, "admin/app", config)
        await content.put_manifest(
            admin,
            "admin/app",
            "v1",
            {
                "schemaVersion": 2,
                "mediaType": content.OCI_MANIFEST,
                "config": {
                    "mediaType": content.OCI_CONFIG,
                    "digest": config_digest,
                    "size": len(config),
                },
                "layers": [
                    {"mediaType": GZIP_LAYER, "digest": digests[0], "size": len(layers[0])},
                    {"mediaType": ZSTD_LAYER, "digest": digests[1], "size": len(layers[1])},
                ],
            },
        )
    async with content.signed_in(inproc, *inproc.admin) as browser:
        page = await content.ok(await browser.get("/repositories/admin/app/tags/v1"))
    html = page.text
    dockerfile = html[html.index('id="dockerfile"') : html.index('id="layers"')]
    rows = re.findall(r"<tr class=\"([^\"]*)\">(.*?)</tr>", dockerfile, re.S)
    assert [cls for cls, _ in rows] == ["", "empty-layer", ""], rows
    short = [d[: len("sha256:") + 12] for d in digests]
    assert short[0] in rows[0][1] and "no layer" not in rows[0][1]
    assert "no layer" in rows[1][1] and "sha256:" not in rows[1][1]
    assert short[1] in rows[2][1] and "RUN make install" in rows[2][1]
    layer_table = html[html.index('id="layers"') :]
    layer_table = layer_table[: layer_table.index("</table>")]
    assert GZIP_LAYER in layer_table and ZSTD_LAYER in layer_table
    assert all(d in layer_table for d in digests)
