"""Fast header-only reading of FITS files, and FitsHeaderCollection.

:func:`scan_fits` walks a FITS file block by block (2880 bytes), records
each HDU's header text and where its data start, and jumps over the data
using the size given by BITPIX, NAXISn, PCOUNT and GCOUNT. No pixel is read,
so opening a file costs the same whatever the image size. The primary header
is parsed at once (class selection and tags need it); extension headers are
parsed into astropy ``Header`` objects only when first used.

:class:`FitsHeaderCollection` groups the headers of several extensions so a
keyword can be read or set in all of them at once (``ad.hdr``).
"""

from __future__ import annotations

import gzip
import itertools
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from astropy.io import fits

from astrodata.errors import FileFormatError

__all__ = [
    "BLOCK_SIZE",
    "FitsHeaderCollection",
    "HDUInfo",
    "FitsScan",
    "LazyHeader",
    "set_new_keyword",
    "scan_fits",
]

BLOCK_SIZE = 2880
CARD_SIZE = 80
_GZIP_MAGIC = b"\x1f\x8b"
_END_CARD = b"END" + b" " * 77
_STRUCTURAL = (b"BITPIX  ", b"NAXIS", b"PCOUNT  ", b"GCOUNT  ", b"EXTNAME ", b"EXTVER  ",
               b"BSCALE  ", b"BZERO   ")


@dataclass
class HDUInfo:
    """One HDU found by :func:`scan_fits`.

    Attributes
    ----------
    index : int
        Position in the file (0 is the primary HDU).
    xtension : str or None
        ``XTENSION`` value (``'IMAGE'``, ``'BINTABLE'``...), None for the PHU.
    name, ver : str or None, int or None
        ``EXTNAME`` and ``EXTVER`` if present.
    bitpix : int
    shape : tuple of int
        numpy shape of the data (slowest axis first); ``()`` when there are no data.
    header_offset, data_offset : int
        Byte offsets of the header and of the data in the (decompressed) file.
    data_size : int
        Size of the data in bytes, without the padding to a whole block.
    """

    index: int
    xtension: str | None
    name: str | None
    ver: int | None
    bitpix: int
    shape: tuple[int, ...]
    header_offset: int
    data_offset: int
    data_size: int
    header_text: str = field(repr=False, default="")
    _header: fits.Header | None = field(repr=False, default=None)
    #: (BSCALE, BZERO) as read by the scan; None when a card needs astropy's parser.
    _scaling: tuple[Any, Any] | None = field(repr=False, default=None)

    @property
    def header(self) -> fits.Header:
        """The astropy Header, parsed on first use."""
        if self._header is None:
            self._header = LazyHeader(text=self.header_text)
        return self._header

    def scaling(self) -> tuple[Any, Any]:
        """(BSCALE, BZERO) of the data, defaults 1 and 0, without parsing the header."""
        if self._scaling is not None:
            return self._scaling
        header = self.header
        return header.get("BSCALE", 1), header.get("BZERO", 0)

    @property
    def is_image(self) -> bool:
        """True for the primary HDU and ``IMAGE`` extensions."""
        return self.xtension is None or self.xtension == "IMAGE"

    @property
    def is_table(self) -> bool:
        """True for binary and ASCII table extensions."""
        return self.xtension in ("BINTABLE", "TABLE")

    @property
    def has_data(self) -> bool:
        return self.data_size > 0


@dataclass
class FitsScan:
    """Result of :func:`scan_fits`: the HDUs of one file and how to reach its bytes."""

    path: str
    hdus: list[HDUInfo]
    compressed: bool
    stat: os.stat_result | None = None

    @property
    def phu(self) -> fits.Header:
        return self.hdus[0].header


def _card_value(card: bytes) -> str:
    """Raw value text of a fixed-format card (strings unquoted, comment removed)."""
    text = card[10:].decode("ascii", "replace")
    stripped = text.lstrip()
    if stripped.startswith("'"):
        out = []
        i = 1
        while i < len(stripped):
            ch = stripped[i]
            if ch == "'":
                if i + 1 < len(stripped) and stripped[i + 1] == "'":
                    out.append("'")
                    i += 2
                    continue
                break
            out.append(ch)
            i += 1
        return "".join(out).rstrip()
    return text.split("/", 1)[0].strip()


def _int_value(card: bytes, key: str, where: str) -> int:
    try:
        return int(card[10:].split(b"/", 1)[0])  # the usual fixed-format integer
    except ValueError:
        pass
    raw = _card_value(card)
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is None or value != int(value):
        raise FileFormatError(f"{where}: keyword {key} has a non-integer value {raw!r}")
    return int(value)


def _read_exact(fh: Any, size: int) -> bytes:
    chunks = []
    remaining = size
    while remaining > 0:
        chunk = fh.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def scan_fits(path: str | os.PathLike[str]) -> FitsScan:
    """Read the headers of a FITS (or gzipped FITS) file without its data.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    FitsScan

    Raises
    ------
    FileFormatError
        (an AstroDataError) naming the file when it does not exist, is not
        FITS, has a header without END, or is shorter than its headers say.
    """
    path = os.fspath(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 (closed below; may be replaced by a gzip stream)
    except FileNotFoundError:
        raise FileFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FileFormatError(f"{path}: is a directory, not a FITS file") from None
    except OSError as err:
        raise FileFormatError(f"{path}: cannot be opened ({err.strerror or err})") from None
    compressed = False
    try:
        st = os.fstat(fh.fileno())
        magic = fh.read(2)
        fh.seek(0)
        if magic == _GZIP_MAGIC:
            compressed = True
            fh.close()
            fh = gzip.open(path, "rb")
            file_size = None
        else:
            file_size = st.st_size
        try:
            hdus = _scan_stream(fh, path, file_size)
        except (OSError, EOFError, gzip.BadGzipFile) as err:
            raise FileFormatError(f"{path}: corrupt compressed FITS file ({err})") from None
    finally:
        fh.close()
    return FitsScan(path=path, hdus=hdus, compressed=compressed, stat=st)


#: The 8-byte keyword fields of the cards the scan reads (NAXIS followed by 3 digits/spaces).
_STRUCTURAL_KEYS = frozenset(
    [b"XTENSION", b"BITPIX  ", b"PCOUNT  ", b"GCOUNT  ", b"EXTNAME ", b"EXTVER  ", b"BSCALE  ",
     b"BZERO   "]
    + [b"NAXIS" + bytes(rest) for rest in itertools.product(b"0123456789 ", repeat=3)]
)
_EQUALS = ord("=")
_READ_CHUNK = 8 * BLOCK_SIZE


class _BlockReader:
    """Forward reading of a (possibly non-seekable) stream in FITS blocks, with a buffer."""

    def __init__(self, fh: Any, seekable: bool) -> None:
        self.fh = fh
        self.seekable = seekable
        self.buf = b""
        self.pos = 0  # stream offset of buf[0]

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset`` (fewer at the end of the stream)."""
        end = self.pos + len(self.buf)
        if offset >= end:
            gap = offset - end
            if gap:
                if self.seekable:
                    self.fh.seek(offset)
                elif _skip(self.fh, gap) < gap:
                    self.buf, self.pos = b"", offset
                    return b""
            self.buf = _read_exact(self.fh, max(size, _READ_CHUNK))
            self.pos = offset
        elif offset + size > end:
            self.buf = self.buf[offset - self.pos :] + _read_exact(
                self.fh, max(size - (end - offset), _READ_CHUNK)
            )
            self.pos = offset
        start = offset - self.pos
        return self.buf[start : start + size]

    def available(self, offset: int, size: int) -> int:
        """How many of ``size`` bytes from ``offset`` exist (reads through non-seekable streams)."""
        end = self.pos + len(self.buf)
        if offset + size <= end:
            return size
        # offset is never past the buffer: it is the end of a header just read
        more = _skip(self.fh, offset + size - end)
        self.buf, self.pos = b"", end + more
        return end - offset + more


def _scan_stream(fh: Any, path: str, file_size: int | None) -> list[HDUInfo]:
    reader = _BlockReader(fh, seekable=file_size is not None)
    hdus: list[HDUInfo] = []
    offset = 0
    while True:
        header_offset = offset
        first = reader.read(offset, BLOCK_SIZE)
        if not first:
            if not hdus:
                raise FileFormatError(f"{path}: empty file, not FITS")
            break
        if len(first) < BLOCK_SIZE:
            if not hdus:
                raise FileFormatError(f"{path}: not a FITS file (shorter than one FITS block)")
            if first.strip(b"\0 "):
                raise FileFormatError(f"{path}: truncated FITS file (partial block at the end)")
            break
        if not hdus:
            if not first.startswith(b"SIMPLE  ="):
                raise FileFormatError(f"{path}: not a FITS file (does not start with SIMPLE)")
        elif not first.startswith(b"XTENSION="):
            # Padding or garbage after the last HDU: astropy ignores it too.
            break
        where = f"{path}: HDU {len(hdus)}"
        blocks = [first]
        cards: dict[bytes, bytes] = {}
        block = first
        while True:
            # a look at each card's keyword field is cheaper than a regex over the block
            for at in range(0, BLOCK_SIZE, CARD_SIZE):
                key = block[at : at + 8]
                if key in _STRUCTURAL_KEYS and block[at + 8] == _EQUALS:
                    key = key.rstrip()
                    if key not in cards:
                        cards[key] = block[at : at + CARD_SIZE]
            end_pos = block.find(_END_CARD)
            while end_pos > 0 and end_pos % CARD_SIZE:
                end_pos = block.find(_END_CARD, end_pos + 1)
            if end_pos >= 0:
                end_at = (len(blocks) - 1) * BLOCK_SIZE + end_pos
                break
            block = reader.read(offset + len(blocks) * BLOCK_SIZE, BLOCK_SIZE)
            if len(block) < BLOCK_SIZE:
                raise FileFormatError(f"{where}: truncated FITS file (header has no END card)")
            blocks.append(block)
        header_bytes = b"".join(blocks) if len(blocks) > 1 else first
        offset += len(header_bytes)
        info = _hdu_info(len(hdus), cards, header_offset, offset, where)
        info.header_text = header_bytes[:end_at].decode("latin-1")
        hdus.append(info)
        padded = -(-info.data_size // BLOCK_SIZE) * BLOCK_SIZE
        if not padded:
            continue
        if file_size is not None:
            if offset + info.data_size > file_size:
                raise FileFormatError(
                    f"{where}: truncated FITS file (data need {info.data_size} bytes from "
                    f"offset {offset}, file has {file_size} bytes)"
                )
            offset += padded
            if offset >= file_size:
                break
        else:
            present = reader.available(offset, padded)
            if present < info.data_size:
                raise FileFormatError(
                    f"{where}: truncated FITS file (data need {info.data_size} bytes, "
                    f"only {present} present)"
                )
            offset += padded
            if present < padded:
                break
    return hdus


def _skip(fh: Any, size: int) -> int:
    """Skip ``size`` bytes of a stream that cannot seek past its end; return bytes skipped."""
    done = 0
    while done < size:
        chunk = fh.read(min(1 << 20, size - done))
        if not chunk:
            break
        done += len(chunk)
    return done


def _hdu_info(
    index: int, cards: dict[bytes, bytes], header_offset: int, data_offset: int, where: str
) -> HDUInfo:
    xtension = _card_value(cards[b"XTENSION"]).upper() if b"XTENSION" in cards else None
    if b"BITPIX" not in cards or b"NAXIS" not in cards:
        raise FileFormatError(f"{where}: header lacks BITPIX or NAXIS")
    bitpix = _int_value(cards[b"BITPIX"], "BITPIX", where)
    if bitpix not in (8, 16, 32, 64, -32, -64):
        raise FileFormatError(f"{where}: invalid BITPIX {bitpix}")
    naxis = _int_value(cards[b"NAXIS"], "NAXIS", where)
    if not 0 <= naxis <= 999:
        raise FileFormatError(f"{where}: invalid NAXIS {naxis}")
    axes = []
    for n in range(1, naxis + 1):
        key = f"NAXIS{n}".encode()
        if key not in cards:
            raise FileFormatError(f"{where}: header lacks NAXIS{n}")
        length = _int_value(cards[key], f"NAXIS{n}", where)
        if length < 0:
            raise FileFormatError(f"{where}: negative NAXIS{n}")
        axes.append(length)
    pcount = _int_value(cards[b"PCOUNT"], "PCOUNT", where) if b"PCOUNT" in cards else 0
    gcount = _int_value(cards[b"GCOUNT"], "GCOUNT", where) if b"GCOUNT" in cards else 1
    if naxis == 0:
        data_size = 0
    else:
        n_elements = 1
        for length in axes:
            n_elements *= length
        if xtension is None and axes and axes[0] == 0 and b"GROUPS" in cards:
            n_elements = 0  # random groups are not supported; treated as no data
        data_size = abs(bitpix) // 8 * gcount * (pcount + n_elements)
    name = _card_value(cards[b"EXTNAME"]).strip().upper() if b"EXTNAME" in cards else None
    ver = None
    if b"EXTVER" in cards:
        try:
            ver = _int_value(cards[b"EXTVER"], "EXTVER", where)
        except FileFormatError:
            ver = None
    shape = tuple(reversed(axes)) if data_size else ()
    bscale = _scale_value(cards.get(b"BSCALE"), 1)
    bzero = _scale_value(cards.get(b"BZERO"), 0)
    return HDUInfo(
        index=index,
        xtension=xtension,
        name=name or None,
        ver=ver,
        bitpix=bitpix,
        shape=shape,
        header_offset=header_offset,
        data_offset=data_offset,
        data_size=data_size,
        _scaling=None if bscale is _SLOW or bzero is _SLOW else (bscale, bzero),
    )


def _scale_value(card: bytes | None, default: int) -> Any:
    """Value of a BSCALE/BZERO card as the header would give it (``_SLOW`` if unsure)."""
    if card is None:
        return default
    return _card_image_value(card.decode("latin-1"))


_SIMPLE_KEYWORD = re.compile(r"^[A-Z0-9_-]{0,8}$")
_KEYWORD_FIELDS = re.compile(r"(.{8}).{72}", re.DOTALL)
_KEYWORD_CHARS = re.compile(r"^[A-Z0-9_ -]*$")
_COMMENTARY = frozenset({"COMMENT", "HISTORY", ""})
_END_IMAGE = "END" + " " * 77
_VALUE = re.compile(
    r"^ *(?:'(?P<str>(?:[^']|'')*)'|(?P<bool>[TF])|"
    r"(?P<num>[+-]?(?:\d+\.?\d*|\.\d+)(?:[DEde][+-]?\d+)?))? *(?:/.*)?$"
)
_INTEGER = re.compile(r"^[+-]?\d+$")
_SLOW = object()  # a card our light parser leaves to astropy


def _card_image_value(image: str) -> Any:
    """Value of an 80-character card image, as astropy reads it, or ``_SLOW``."""
    if image[8:10] != "= ":
        return _SLOW
    match = _VALUE.match(image[10:])
    if match is None:
        return _SLOW
    if match.group("str") is not None:
        return match.group("str").replace("''", "'").rstrip()
    if match.group("bool") is not None:
        return match.group("bool") == "T"
    number = match.group("num")
    if number is None:
        return None  # an undefined value reads as None, as in astropy
    if _INTEGER.match(number):
        return int(number)
    return float(number.replace("D", "E").replace("d", "e"))


#: key as asked -> keyword the light parser answers for (None: leave it to astropy).
_LOOKUP_KEYWORDS: dict[str, str | None] = {}


def _lookup_keyword(key: str) -> str | None:
    """The normalised keyword for ``key``, remembered: headers are asked the same keys."""
    keyword: str | None = key.strip().upper()
    if keyword in _COMMENTARY or not _SIMPLE_KEYWORD.match(keyword):
        keyword = None
    if len(_LOOKUP_KEYWORDS) < 10_000:
        _LOOKUP_KEYWORDS[key] = keyword
    return keyword


class LazyHeader(fits.Header):
    """An astropy Header that defers building its cards until they are needed.

    Built from the raw header text of a file, it answers the read-only
    questions asked when opening many files (``key in h``, ``h[key]``,
    ``h.get(key)``, ``h.keys()``, ``len(h)``, iteration) from a light parse of
    the fixed-format card images, with the same results as astropy. Anything
    else (any change, comments, commentary cards, HIERARCH or CONTINUE cards,
    unusual values) first builds the ordinary astropy Header from the same
    text, after which it behaves exactly like one.
    """

    def __init__(self, cards: Any = (), copy: bool = False, *, text: str | None = None) -> None:
        d = self.__dict__
        d["_lh_text"] = None
        if text is None:
            super().__init__(cards, copy)
            return
        d["_lh_index"] = None
        d["_lh_values"] = {}
        d["_modified"] = False
        d["_lh_text"] = text

    # -- the astropy internals, built on first use ----------------------------

    def _lh_materialize(self) -> None:
        d = self.__dict__
        text = d.get("_lh_text")
        if text is None:
            return
        parsed = fits.Header.fromstring(text)
        d["_lh_text"] = None
        d["_lh_cards"] = parsed._cards
        d["_lh_keyword_indices"] = parsed._keyword_indices
        d["_lh_rvkc_indices"] = parsed._rvkc_indices
        d["_modified"] = False

    def _lh_get(self, name: str) -> Any:
        self._lh_materialize()
        return self.__dict__[name]

    _cards = property(lambda self: self._lh_get("_lh_cards"),
                      lambda self, v: self.__dict__.__setitem__("_lh_cards", v))
    _keyword_indices = property(lambda self: self._lh_get("_lh_keyword_indices"),
                                lambda self, v: self.__dict__.__setitem__(
                                    "_lh_keyword_indices", v))
    _rvkc_indices = property(lambda self: self._lh_get("_lh_rvkc_indices"),
                             lambda self, v: self.__dict__.__setitem__("_lh_rvkc_indices", v))

    @property
    def _modified(self) -> bool:
        if self.__dict__.get("_lh_text") is not None:
            return self.__dict__.get("_modified", False)
        return fits.Header._modified.fget(self)

    @_modified.setter
    def _modified(self, value: bool) -> None:
        self.__dict__["_modified"] = value

    def is_materialized(self) -> bool:
        """True once the astropy cards exist."""
        return self.__dict__.get("_lh_text") is None

    def add_new(self, keyword: str, value: Any, comment: str | None = None) -> None:
        """Set a keyword that is not in the header yet, without building the cards.

        Same result as ``header[keyword] = (value, comment)``: the card goes
        after the last card (astropy would place it before trailing
        commentary cards, so a header ending with those is built first).
        """
        d = self.__dict__
        text = d.get("_lh_text")
        if text is not None and keyword.upper() not in self and text[-80:][:8].rstrip() not in (
            "COMMENT", "HISTORY", ""
        ):
            image = _card_image(keyword, value, comment)
            if len(image) == 80:
                index = d.get("_lh_index")
                if index is not None:
                    key = image[:8].rstrip()
                    index.setdefault(key, len(text))
                    d["_lh_keys"].append(key)
                d["_lh_text"] = text + image
                d["_lh_values"].pop(keyword.upper(), None)
                d["_modified"] = True
                return
        self[keyword] = (value, comment)

    # -- the light parse ---------------------------------------------------------

    def _lh_build(self) -> dict | None:
        """``{keyword: offset of its first card}`` (keyword order kept), or None."""
        d = self.__dict__
        index = d.get("_lh_index")
        if index is not None:
            return index
        text = d["_lh_text"]
        padded = _KEYWORD_FIELDS.findall(text)
        joined = "".join(padded)
        keys = [k.rstrip() for k in padded]
        if (len(padded) * 80 != len(text) or not _KEYWORD_CHARS.match(joined)
                or not text.isascii() or "HIERARCH" in keys or "CONTINUE" in keys
                or "END" in keys or any(" " in k for k in keys)):
            self._lh_materialize()
            return None
        index = {k: i * 80 for i, k in reversed(list(enumerate(keys)))}
        d["_lh_index"] = index
        d["_lh_keys"] = keys
        return index

    def _lh_lookup(self, key: Any) -> tuple[bool | None, Any]:
        """(True, value), (False, None) if absent, or (None, None): ask astropy."""
        d = self.__dict__
        if d.get("_lh_text") is None or not isinstance(key, str):
            return None, None
        keyword = _LOOKUP_KEYWORDS.get(key, _SLOW)
        if keyword is _SLOW:
            keyword = _lookup_keyword(key)
        if keyword is None:
            return None, None
        index = d.get("_lh_index")
        if index is None:
            index = self._lh_build()
            if index is None:
                return None, None
        offset = index.get(keyword)
        if offset is None:
            return False, None
        values = d["_lh_values"]
        value = values.get(keyword, values)
        if value is values:
            value = values[keyword] = self._lh_parse(offset)
        if value is _SLOW:
            return None, None
        return True, value

    def _lh_parse(self, offset: int) -> Any:
        return _card_image_value(self.__dict__["_lh_text"][offset : offset + 80])

    # -- the read-only API answered without building cards ----------------------------

    def __getitem__(self, key: Any) -> Any:
        found, value = self._lh_lookup(key)
        if found:
            return value
        if found is False:
            raise KeyError(f"Keyword {key!r} not found.")
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        found, value = self._lh_lookup(key)
        if found:
            return value
        if found is False:
            return default
        return super().get(key, default)

    def __contains__(self, key: Any) -> bool:
        found, _ = self._lh_lookup(key)
        if found is not None:
            return found
        if (isinstance(key, str) and self.__dict__.get("_lh_text") is not None
                and key.strip().upper() in _COMMENTARY):
            index = self._lh_build()
            if index is not None:
                return key.strip().upper() in index
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        if self.__dict__.get("_lh_text") is not None and self._lh_build() is not None:
            return iter(list(self.__dict__["_lh_keys"]))
        return super().__iter__()

    def keys(self) -> Iterator[str]:
        return self.__iter__()

    def __len__(self) -> int:
        if self.__dict__.get("_lh_text") is not None and self._lh_build() is not None:
            return len(self.__dict__["_lh_keys"])
        return super().__len__()


_PLAIN_TEXT = re.compile(r"^[ -&(-~]*$")  # printable ASCII without a quote


def _card_image(keyword: str, value: Any, comment: str | None) -> str:
    """``fits.Card(keyword, value, comment).image``; a short string value is formatted here.

    Formatting the file name card (``ORIGNAME``) of every opened file is a
    measurable part of opening one when astropy does it.
    """
    if (isinstance(value, str) and value and comment and keyword and _SIMPLE_KEYWORD.match(keyword)
            and _PLAIN_TEXT.match(value) and _PLAIN_TEXT.match(comment)):
        quoted = f"'{value:8}'"
        image = f"{keyword:8}= {quoted:20} / {comment}"
        if len(image) <= CARD_SIZE and not value.endswith(" "):
            return f"{image:80}"
    with warnings.catch_warnings():
        # a long value (a long file name) leaves no room for all of our comment:
        # astropy shortens it, which is all that can be done
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        return fits.Card(keyword, value, comment).image


def set_new_keyword(header: fits.Header, keyword: str, value: Any, comment: str) -> None:
    """``header[keyword] = (value, comment)``, cheap on a LazyHeader not yet built."""
    if isinstance(header, LazyHeader):
        header.add_new(keyword, value, comment)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            header[keyword] = (value, comment)


class FitsHeaderCollection:
    """The headers of several extensions, read and set together.

    ``get`` returns one value per header; ``set`` and ``remove`` act on every
    header. ``key in collection`` is True if any header has the keyword.

    Parameters
    ----------
    headers : sequence of astropy.io.fits.Header
    """

    def __init__(self, headers: Sequence[fits.Header]) -> None:
        self._headers = list(headers)

    def __len__(self) -> int:
        return len(self._headers)

    def __iter__(self) -> Iterator[fits.Header]:
        return iter(self._headers)

    def __contains__(self, key: str) -> bool:
        return any(key in h for h in self._headers)

    def __repr__(self) -> str:
        return f"<FitsHeaderCollection of {len(self._headers)} headers>"

    def __getitem__(self, key: str | int) -> Any:
        """Values of ``key`` in every header (or the header at an integer index).

        Raises
        ------
        KeyError
            if a header lacks the keyword; ``err.missing_at`` lists the
            0-based indices of those headers.
        """
        if isinstance(key, int):
            return self._headers[key]
        missing = [i for i, h in enumerate(self._headers) if key not in h]
        if missing:
            err = KeyError(f"keyword {key!r} missing from extension(s) {missing}")
            err.missing_at = missing  # type: ignore[attr-defined]
            raise err
        return [h[key] for h in self._headers]

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(f"keyword {key!r} is in none of the headers")
        self.remove(key)

    def get(self, key: str, default: Any = None) -> list[Any]:
        """Value of ``key`` in each header (``default`` where it is missing)."""
        return [h.get(key, default) for h in self._headers]

    def set(self, key: str, value: Any = None, comment: str | None = None) -> None:
        """Set ``key`` in every header (keeps an existing comment if ``comment`` is None)."""
        for h in self._headers:
            h.set(key, value, comment)

    def remove(self, key: str) -> None:
        """Delete ``key`` from every header that has it."""
        for h in self._headers:
            if key in h:
                del h[key]

    def get_comment(self, key: str) -> list[str | None]:
        """Comment of ``key`` in each header (None where the keyword is missing)."""
        return [h.comments[key] if key in h else None for h in self._headers]

    def set_comment(self, key: str, comment: str) -> None:
        """Set the comment of ``key`` in every header.

        Raises
        ------
        KeyError
            if a header lacks the keyword (nothing is changed then).
        """
        missing = [i for i, h in enumerate(self._headers) if key not in h]
        if missing:
            err = KeyError(f"keyword {key!r} missing from extension(s) {missing}")
            err.missing_at = missing  # type: ignore[attr-defined]
            raise err
        for h in self._headers:
            h.comments[key] = comment
