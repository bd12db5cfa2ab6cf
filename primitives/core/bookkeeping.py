"""Primitive mix-in Bookkeeping: streams, selections, lists, copying and writing of the inputs.

These primitives move AstroData objects between streams and to disk; they do
not change pixel values. Selection by tags follows DRAGONS: ``selectFromInputs``
keeps the inputs having ANY of the listed tags (unlike dataselect and
``recipe_tags``, which require all of them).
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from typing import Any

import astrodata
from primitives.base import PrimitivesBASE, independent_copy
from primitives.errors import PrimitiveError
from primitives.params import Param, primitive

#: Directory (in the working directory) holding the addToList/getList index.
REDUCE_CACHE_DIR = ".reducecache"
#: File of the stack index: ``{stack_id: [file names in the order added]}``.
STACK_INDEX = "stkindex.json"


def _same_file(path_a: str | None, path_b: str | None) -> bool:
    if not path_a or not path_b:
        return False
    try:
        return os.path.samefile(path_a, path_b)
    except OSError:
        return os.path.abspath(path_a) == os.path.abspath(path_b)


def _descriptor_value(ad: Any, name: str) -> Any:
    """Value of descriptor or attribute `name` of `ad` (None when unavailable)."""
    value = getattr(ad, name, None)
    if callable(value):
        try:
            value = value()
        except Exception:  # a descriptor failing on one file must not stop a sort
            return None
    return value


class Bookkeeping(PrimitivesBASE):
    """Primitives managing streams, lists and the writing of files."""

    tagset = None

    # -- writing ----------------------------------------------------------
    def _write_in_cwd(self, ad: Any, overwrite: bool = True) -> str | None:
        """Write `ad` in the working directory under its file name.

        Returns the path written, or None when the target is the very file
        `ad` was read from (raw inputs are never modified).
        """
        target = os.path.join(os.getcwd(), ad.filename)
        if _same_file(target, getattr(ad, "path", None)) and os.path.exists(target):
            self.log.stdinfo(f"{ad.filename} is the input file itself; not rewritten")
            return None
        ad.write(target, overwrite=overwrite)
        return target

    @primitive(
        overwrite=Param(bool, True, "Overwrite existing files"),
        outfilename=Param(str, None, "Output file name (only with a single input)"),
        prefix=Param(str, "", "Prefix added to the file names"),
        suffix=Param(str, "", "Suffix replacing the last suffix of the file names"),
        strip=Param(bool, False, "Strip every suffix after the original name first"),
    )
    def writeOutputs(self, adinputs=None, **params):
        """Write the stream's AstroData objects to files in the working directory."""
        outfilename = params["outfilename"]
        if outfilename and len(adinputs) > 1:
            raise PrimitiveError(f"writeOutputs: outfilename={outfilename!r} given for "
                                 f"{len(adinputs)} inputs; use prefix/suffix instead")
        for ad in self.progress(adinputs):
            if outfilename:
                ad.filename = os.path.basename(outfilename)
            elif params["prefix"] or params["suffix"] or params["strip"]:
                ad.update_filename(prefix=params["prefix"], suffix=params["suffix"],
                                   strip=params["strip"])
            path = self._write_in_cwd(ad, overwrite=params["overwrite"])
            if path is not None:
                self.log.stdinfo(f"Wrote {ad.filename}")
        return adinputs

    @primitive(force=Param(bool, False, "Write and reload even objects never modified"))
    def flushPixels(self, adinputs=None, **params):
        """Write the inputs to the working directory and reopen them lazily (frees memory).

        Objects still carrying their original file name are left alone unless
        ``force`` (their pixels are read from the input file on demand anyway).
        """
        outputs = []
        for ad in self.progress(adinputs):
            unchanged = ad.filename == ad.orig_filename or not ad.filename
            if unchanged and not params["force"]:
                outputs.append(ad)
                continue
            path = self._write_in_cwd(ad, overwrite=True)
            if path is None:
                outputs.append(ad)
                continue
            reopened = astrodata.open(path)
            self.note_input_file(reopened)
            outputs.append(reopened)
            self.log.fullinfo(f"Flushed {ad.filename}")
        return outputs

    # -- logging ----------------------------------------------------------
    @primitive(purpose=Param(str, None, "What the inputs are for (printed in the header)"))
    def showInputs(self, adinputs=None, **params):
        """Log the file names of the stream."""
        purpose = params["purpose"]
        self.log.stdinfo(f"Inputs for {purpose}" if purpose else "Inputs:")
        for ad in adinputs:
            self.log.stdinfo(f"  {ad.filename}")
        return adinputs

    # -- selection --------------------------------------------------------
    @primitive(
        tags=Param(list, None, "Keep inputs having ANY of these tags (comma-separated)",
                   item=str),
        xtags=Param(list, None, "Drop inputs having ANY of these tags", item=str),
    )
    def selectFromInputs(self, adinputs=None, **params):
        """Keep the inputs having any of ``tags`` and none of ``xtags``."""
        wanted = {t.upper() for t in params["tags"] or []}
        unwanted = {t.upper() for t in params["xtags"] or []}
        selected = [ad for ad in adinputs
                    if (not wanted or wanted & set(ad.tags)) and not unwanted & set(ad.tags)]
        self.log.stdinfo(f"Selected {len(selected)} of {len(adinputs)} input(s)")
        return selected

    @primitive(tags=Param(list, None, "Remove inputs having ANY of these tags", item=str))
    def removeFromInputs(self, adinputs=None, **params):
        """Remove the inputs having any of ``tags``."""
        unwanted = {t.upper() for t in params["tags"] or []}
        kept = [ad for ad in adinputs if not unwanted & set(ad.tags)]
        self.log.stdinfo(f"Removed {len(adinputs) - len(kept)} of {len(adinputs)} input(s)")
        return kept

    @primitive(
        at_start=Param(int, 0, "Number of inputs to drop at the start", min=0),
        at_end=Param(int, 0, "Number of inputs to drop at the end", min=0),
    )
    def rejectInputs(self, adinputs=None, **params):
        """Drop inputs at the start and/or the end of the stream."""
        stop = len(adinputs) - params["at_end"]
        kept = adinputs[params["at_start"]:max(stop, 0)]
        for ad in adinputs:
            if all(ad is not k for k in kept):
                self.log.stdinfo(f"Rejected {ad.filename}")
        return kept

    @primitive(
        descriptor=Param(str, "filename", "Descriptor or attribute to sort by"),
        reverse=Param(bool, False, "Sort in decreasing order"),
    )
    def sortInputs(self, adinputs=None, **params):
        """Sort the inputs by a descriptor (objects without a value go last)."""
        name = params["descriptor"]
        probe = adinputs[0] if adinputs else None
        if probe is not None and not hasattr(probe, name):
            raise PrimitiveError(f"sortInputs: {probe.filename} has no descriptor or "
                                 f"attribute {name!r}")
        keyed = [(_descriptor_value(ad, name), i, ad) for i, ad in enumerate(adinputs)]
        known = [k for k in keyed if k[0] is not None]
        unknown = [k for k in keyed if k[0] is None]
        try:
            known.sort(key=lambda k: (k[0], k[1]), reverse=params["reverse"])
        except TypeError as exc:
            raise PrimitiveError(f"sortInputs: values of {name!r} cannot be ordered: "
                                 f"{exc}") from None
        return [k[2] for k in known + unknown]

    # -- streams ----------------------------------------------------------
    @primitive
    def clearStream(self, adinputs=None, **params):
        """Empty the stream (use ``stream=NAME``)."""
        return []

    @primitive
    def clearAllStreams(self, adinputs=None, **params):
        """Empty every stream except ``main``."""
        for name in self.streams:
            if name != "main":
                self.streams[name] = []
        return adinputs

    @primitive(
        from_stream=Param(str, "main", "Stream whose objects are appended"),
        copy=Param(bool, False, "Append deep copies instead of the objects themselves"),
    )
    def appendStream(self, adinputs=None, **params):
        """Append the objects of another stream to this one."""
        source = params["from_stream"]
        if source not in self.streams:
            raise PrimitiveError(f"appendStream: there is no stream {source!r} "
                                 f"(streams: {', '.join(sorted(self.streams))})")
        extra = self.streams[source]
        if params["copy"]:
            extra = [independent_copy(ad) for ad in extra]
        return list(adinputs) + list(extra)

    @primitive(
        root_stream_name=Param(str, "index", "Streams are named root_stream_name + 1, 2, ..."),
        copy=Param(bool, True, "Slice deep copies of the inputs"),
    )
    def sliceIntoStreams(self, adinputs=None, **params):
        """Put the i-th extension of every input into stream ``<root_stream_name><i>``.

        Each stream receives one single-extension AstroData per input (same
        PHU and file name); the inputs themselves stay in this stream.
        """
        root = params["root_stream_name"]
        created: dict[str, list] = {}
        for ad in adinputs:
            source = independent_copy(ad) if params["copy"] else ad
            for index, ext in enumerate(source, start=1):
                sliced = astrodata.create(source.phu.copy())
                sliced.append(ext)
                sliced.filename = source.filename
                created.setdefault(f"{root}{index}", []).append(sliced)
        self.streams.update(created)
        self.log.stdinfo(f"Created stream(s) {', '.join(created)}" if created else
                         "No extension to slice")
        return adinputs

    @primitive
    def mergeInputs(self, adinputs=None, **params):
        """Merge all inputs into the first one, appending the extensions of the others."""
        if len(adinputs) < 2:
            return adinputs
        merged = adinputs[0]
        for ad in adinputs[1:]:
            for ext in ad:
                merged.append(ext)
        self.log.stdinfo(f"Merged {len(adinputs)} inputs into {merged.filename} "
                         f"({len(merged)} extensions)")
        return [merged]

    @primitive
    def copyInputs(self, adinputs=None, **params):
        """Replace the inputs by deep copies (use with ``outstream`` to fork a stream)."""
        return [independent_copy(ad) for ad in adinputs]

    @primitive(
        source=Param(str, None, "Stream the attribute is copied from"),
        attribute=Param(str, None, "Attribute to copy (e.g. OBJMASK, mask, wcs, OBJCAT)"),
    )
    def transferAttribute(self, adinputs=None, **params):
        """Copy an extension attribute from the objects of another stream.

        Objects are paired by original file name when every input has a
        counterpart in the source stream; otherwise a single source object
        serves every input, or the streams are paired in order (same length
        required). Extension counts must agree.
        """
        source_name, attribute = params["source"], params["attribute"]
        if not source_name or not attribute:
            raise PrimitiveError("transferAttribute: both source and attribute are required")
        if source_name not in self.streams:
            raise PrimitiveError(f"transferAttribute: there is no stream {source_name!r}")
        sources = self.streams[source_name]
        by_name = {getattr(s, "orig_filename", None): s for s in sources}
        if adinputs and all(getattr(ad, "orig_filename", None) in by_name for ad in adinputs):
            pairs = [(ad, by_name[ad.orig_filename]) for ad in adinputs]
        elif len(sources) == 1:
            pairs = [(ad, sources[0]) for ad in adinputs]
        elif len(sources) == len(adinputs):
            pairs = list(zip(adinputs, sources, strict=True))
        else:
            raise PrimitiveError(f"transferAttribute: stream {source_name!r} has "
                                 f"{len(sources)} object(s) for {len(adinputs)} input(s)")
        for ad, src in pairs:
            if len(ad) != len(src):
                raise PrimitiveError(f"transferAttribute: {ad.filename} has {len(ad)} "
                                     f"extension(s) but {src.filename} has {len(src)}")
            found = False
            for ext, src_ext in zip(ad, src, strict=True):
                value = getattr(src_ext, attribute, None)
                if value is None:
                    continue
                setattr(ext, attribute, copy.deepcopy(value))
                found = True
            if not found:
                self.log.warning(f"transferAttribute: {src.filename} has no {attribute}")
            else:
                self.log.fullinfo(f"Transferred {attribute} from {src.filename} to "
                                  f"{ad.filename}")
        return adinputs

    # -- persistent lists (.reducecache) --------------------------------
    def _stack_index_path(self) -> str:
        return os.path.join(os.getcwd(), REDUCE_CACHE_DIR, STACK_INDEX)

    def _read_stack_index(self) -> dict[str, list[str]]:
        path = self._stack_index_path()
        if not os.path.exists(path):
            return {}
        try:
            with open(path) as handle:
                index = json.load(handle)
        except (OSError, ValueError) as exc:
            raise PrimitiveError(f"cannot read the list index {path}: {exc}") from None
        if not isinstance(index, dict):
            raise PrimitiveError(f"the list index {path} is not a JSON object")
        return index

    def _write_stack_index(self, index: dict[str, list[str]]) -> None:
        path = self._stack_index_path()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".stkindex-")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(index, handle, indent=1, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @staticmethod
    def _stack_id(ad: Any, purpose: str | None) -> str:
        group = _descriptor_value(ad, "group_id")
        if group is None:
            group = _descriptor_value(ad, "observation_id") or ""
        return f"{purpose or ''}{group}".replace(" ", "")

    @primitive(purpose=Param(str, None, "Name of the list (e.g. forStack, forSky)"))
    def addToList(self, adinputs=None, **params):
        """Write the inputs and record them in the list ``purpose + group_id``.

        The index lives in ``./.reducecache/stkindex.json``; files are written
        in the working directory under their current names.
        """
        index = self._read_stack_index()
        for ad in adinputs:
            path = self._write_in_cwd(ad, overwrite=True) or ad.path
            stack_id = self._stack_id(ad, params["purpose"])
            entries = index.setdefault(stack_id, [])
            path = os.path.abspath(path)
            if path not in entries:
                entries.append(path)
            self.log.stdinfo(f"{ad.filename} added to list {stack_id}")
        self._write_stack_index(index)
        return adinputs

    @primitive(
        purpose=Param(str, None, "Name of the list (e.g. forStack, forSky)"),
        max_frames=Param(int, None, "Keep at most this many (the most recent) frames", min=1),
    )
    def getList(self, adinputs=None, **params):
        """Reopen every file of the lists matching the inputs (chronological order)."""
        index = self._read_stack_index()
        stack_ids = list(dict.fromkeys(self._stack_id(ad, params["purpose"])
                                       for ad in adinputs))
        paths: list[str] = []
        for stack_id in stack_ids:
            paths.extend(p for p in index.get(stack_id, []) if p not in paths)
        outputs = []
        for path in paths:
            if not os.path.exists(path):
                self.log.warning(f"getList: {path} listed in {STACK_INDEX} no longer exists")
                continue
            reopened = astrodata.open(path)
            self.note_input_file(reopened)
            outputs.append(reopened)
        timed = [(_descriptor_value(ad, "ut_datetime"), i, ad) for i, ad in enumerate(outputs)]
        if all(t[0] is not None for t in timed):
            timed.sort(key=lambda t: (t[0], t[1]))
        outputs = [t[2] for t in timed]
        if params["max_frames"] is not None:
            outputs = outputs[-params["max_frames"]:]
        self.log.stdinfo(f"Using {len(outputs)} file(s) from list(s) {', '.join(stack_ids)}")
        return outputs
