"""Endpoint URL safety: refuse URLs that reach private, loopback or link-local hosts.

Webhook endpoints are configured by users, so an endpoint could point the
deliverer at an internal service (SSRF). :func:`check_url` resolves the host
and refuses any address that is loopback, private (RFC 1918, ULA), link-local
(including the cloud metadata address 169.254.169.254), multicast, reserved
or unspecified, unless the config allows it (``allow_loopback`` for 127/8 and
::1, ``allow_private_networks`` for the rest). The deliverer calls it before
every attempt, so a DNS change is noticed on the next attempt.

>>> check_url("http://127.0.0.1:8080/hook", allow_loopback=True)
['127.0.0.1']
>>> check_url("http://127.0.0.1:8080/hook")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
analytics.alerts.errors.UnsafeURLError: endpoint url ...: resolves to loopback address 127.0.0.1 ...
>>> check_url("http://169.254.169.254/", allow_loopback=True)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
analytics.alerts.errors.UnsafeURLError: endpoint url ...: resolves to link-local address ...
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from .errors import UnsafeURLError

Resolver = Callable[[str, int], list[str]]


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UnsafeURLError(host, f"cannot resolve host: {exc.strerror}") from None
    return sorted({str(info[4][0]) for info in infos})


def check_syntax(url: str) -> tuple[str, int]:
    """Check scheme and host; return ``(host, port)``.

    >>> check_syntax("https://hooks.example.com/x")
    ('hooks.example.com', 443)
    >>> check_syntax("file:///etc/passwd")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    analytics.alerts.errors.UnsafeURLError: endpoint url file:///etc/passwd: scheme must be ...
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError(url, f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeURLError(url, "scheme must be http or https")
    if not parts.hostname:
        raise UnsafeURLError(url, "has no host")
    if parts.username or parts.password:
        raise UnsafeURLError(url, "must not carry credentials (sign with secrets instead)")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def classify(address: str) -> str:
    """``'public'``, ``'loopback'``, ``'link-local'`` or ``'private'`` for one IP address.

    IPv6 forms that carry an IPv4 address (mapped, 6to4, NAT64, Teredo) are judged by that
    address, and the deprecated site-local range ``fec0::/10`` is private:

    >>> classify("8.8.8.8"), classify("::1"), classify("10.1.2.3"), classify("::ffff:127.0.0.1")
    ('public', 'loopback', 'private', 'loopback')
    >>> classify("2002:a9fe:a9fe::1"), classify("64:ff9b::a9fe:a9fe"), classify("fec0::1")
    ('link-local', 'link-local', 'private')
    >>> classify("64:ff9b::808:808"), classify("2002:808:808::1")
    ('public', 'public')
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or _nat64(ip) or (
            ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            ip = embedded
        elif ip in _SITE_LOCAL:
            return "private"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if (ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_unspecified
            or not ip.is_global):
        return "private"
    return "public"


_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _nat64(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a NAT64 address translates to (RFC 6052, RFC 8215), or None."""
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def check_url(url: str, *, allow_loopback: bool = False, allow_private_networks: bool = False,
              resolver: Resolver | None = None) -> list[str]:
    """Refuse ``url`` unless every address its host resolves to is allowed; return them."""
    host, port = check_syntax(url)
    try:
        addresses = (resolver or _resolve)(host, port)
    except UnsafeURLError as exc:
        raise UnsafeURLError(url, exc.reason) from None
    if not addresses:
        raise UnsafeURLError(url, "host resolves to no address")
    for address in addresses:
        kind = classify(address)
        if kind == "public":
            continue
        if kind == "loopback" and allow_loopback:
            continue
        if kind != "loopback" and allow_private_networks:
            continue
        setting = "allow_loopback" if kind == "loopback" else "allow_private_networks"
        raise UnsafeURLError(url, f"resolves to {kind} address {address} "
                                  f"(set {setting} = true in [alerts] to allow it)")
    return addresses
