"""Profiles: bio and display name, avatars (checked, re-encoded, cached), what a profile shows."""

from __future__ import annotations

import io
import unicodedata

from PIL import Image

from tests.api.helpers import assert_error, member, members, ok
from tests.conftest import Server
from tests.social.helpers import follow, room


def image(fmt: str, size: tuple[int, int] = (640, 480), mode: str = "RGB", **save: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 40, 40) if mode == "RGB" else 0).save(out, fmt, **save)
    return out.getvalue()


async def test_bio_and_display_name(server: Server) -> None:
    alice = await member(server, "alice")
    decomposed = unicodedata.normalize("NFD", "Café owner\u202e\n\n\n\nhi  there ")
    me = ok(await alice.http.patch("/profile", json={"bio": decomposed, "display_name": " Al "}))
    assert me["bio"] == "Café owner\n\nhi there" and me["display_name"] == "Al"
    assert unicodedata.is_normalized("NFC", me["bio"])
    assert_error(await alice.http.patch("/profile", json={"bio": "x" * 301}), 422, "invalid_bio")
    assert_error(await alice.http.patch("/profile", json={"display_name": "  "}), 422)
    assert_error(await alice.http.patch("/profile", json={"bio": 3}), 422)
    assert_error(await alice.http.patch("/profile", json={"age": 3}), 422)
    assert ok(await alice.http.patch("/profile", json={"bio": "x" * 300}))["bio"] == "x" * 300


async def test_profile_shows_inviter_counts_rooms_and_events(server: Server) -> None:
    host, viewer = await members(server, "host", "viewer")
    invite, code = await server.services.accounts.create_invite(host.account)
    guest = (await server.anonymous()).http
    ok(await guest.post("/auth/signup", json={"invite": code, "username": "newbie",
                                              "display_name": "New", "password": "pw-12345678"}),
       201)
    await follow(viewer, host)
    live = await room(host, "open", "Now")
    await room(host, "closed", "Hidden")
    ok(await host.http.post("/events", json={"title": "Soon", "starts_at": "2027-02-01T10:00:00",
                                             "timezone": "UTC"}), 201)
    profile = ok(await viewer.http.get("/users/host/profile"))
    assert profile["followers_count"] == 1 and profile["following"] is True
    assert [r["id"] for r in profile["hosting"]] == [live]  # not the closed room
    assert [e["title"] for e in profile["upcoming_events"]] == ["Soon"]
    assert profile["avatar_url"] is None and profile["bio"] == ""
    newbie = ok(await viewer.http.get("/users/newbie/profile"))
    assert newbie["invited_by"]["username"] == "host"
    assert_error(await viewer.http.get("/users/ghost/profile"), 404)


async def test_avatar_upload_re_encodes_and_caches(server: Server) -> None:
    alice, bob = await members(server, "alice", "bob")
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    uploads = [image("PNG", mode="RGBA", size=(300, 900)), image("JPEG", exif=exif.tobytes()),
               image("WEBP", size=(100, 100))]
    for data in uploads:
        body = ok(await alice.http.put("/profile/avatar", content=data,
                                       headers={"Content-Type": "application/octet-stream"}))
        url = body["avatar_url"]
        assert url.startswith("/api/v1/users/alice/avatar?v=")
        response = await bob.http.get(url.removeprefix("/api/v1"))
        assert response.status_code == 200 and response.headers["content-type"] == "image/webp"
        assert "immutable" in response.headers["cache-control"]
        picture = Image.open(io.BytesIO(response.content))
        assert picture.format == "WEBP" and picture.size == (256, 256)
        assert not picture.getexif() and b"SecretCam" not in response.content
        etag = response.headers["etag"]
        again = await bob.http.get(url.removeprefix("/api/v1"), headers={"If-None-Match": etag})
        assert again.status_code == 304
    assert ok(await bob.http.get("/users/alice/profile"))["avatar_url"] == url
    ok(await alice.http.delete("/profile/avatar"))
    assert_error(await bob.http.get("/users/alice/avatar"), 404, "avatar_not_found")


async def test_avatar_refusals(server: Server) -> None:
    alice = await member(server, "alice")

    async def put(data: bytes, **headers: str) -> object:
        return await alice.http.put("/profile/avatar", content=data,
                                    headers={"Content-Type": "image/png", **headers})

    body = assert_error(await put(b"just some text, named avatar.png\n" * 10), 422,
                        "invalid_image")
    assert "PNG, JPEG or WebP" in body["message"]
    gif = io.BytesIO()
    Image.new("P", (10, 10)).save(gif, "GIF")
    assert_error(await put(gif.getvalue()), 422, "invalid_image")
    assert_error(await put(b""), 422, "invalid_image")
    assert_error(await put(image("PNG")[:200]), 422, "invalid_image")  # truncated
    # Decompression bomb: 20,000 x 20,000 pixels in a few kilobytes.
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, "PNG", optimize=True)
    assert len(bomb.getvalue()) < 100_000
    assert_error(await put(bomb.getvalue()), 422, "image_too_large")
    # Over 5 MB: refused from its length, and also when streamed without one.
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (5 * 1024 * 1024 + 2048)
    assert_error(await put(big), 413, "too_large")

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(6):
            yield b"\0" * (1024 * 1024)

    response = await alice.http.put("/profile/avatar", content=chunks())
    assert_error(response, 413)
    # The raised limit is for the avatar only: other routes keep 256 KiB.
    response = await alice.http.patch("/profile", content=b"{" + b" " * 300_000 + b"}",
                                      headers={"Content-Type": "application/json"})
    assert_error(response, 413)
    assert_error(await (await server.anonymous()).http.put("/profile/avatar", content=b"x"), 401)
