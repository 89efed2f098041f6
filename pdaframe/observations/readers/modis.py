"""MODIS LAI/FPAR subsets -> one band's composites at a site, QC bits decoded, scaled.

Two layouts of the ORNL DAAC MODIS land product subsets are read:

* the subset **CSV** (web service / MODISTools ``mt_subset``, one row per date, band and
  pixel): columns ``band``, ``value``, ``scale`` and ``calendar_date`` (YYYY-MM-DD) or
  ``modis_date`` (``AYYYYDDD``), optionally ``pixel`` (pixel number; without it one pixel);
* the older **ASCII** subset (``*_MOD15A2.asc``, no header): one line per date and band,
  ``<...>.A2000049.<...>.<band>,<product>,A2000049,<site>,<processed>,v1,...,vn``. It has no
  scale column: give ``scale`` (0.1 for LAI and FPAR).

QC: ``FparLai_QC`` of the same date and pixel is decoded bitwise (MOD15A2(H) user guide):
bit 0 MODLAND (0 = good quality, main algorithm), bits 3-4 cloud state (0 = clear), bits 5-7
SCF_QC (0 main algorithm without saturation, 1 main with saturation, 2 and 3 back-up
algorithm, 4 not produced). A composite passes if MODLAND is good (``modland_good``), its
SCF_QC is in ``scf_qc`` (default 0 and 1) and, with ``clear_sky``, its cloud state is 0.
Raw values above ``max_raw`` (100: 248-255 are fill codes) are missing.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ...errors import ConfigError, DataError
from .common import ReadResult

UNITS = {"lai": "m2 m-2", "fpar": "1"}


def decode_qc(qc) -> dict:
    """The fields of ``FparLai_QC`` values: ``modland`` (bit 0), ``sensor`` (bit 1),
    ``dead_detector`` (bit 2), ``cloud`` (bits 3-4), ``scf_qc`` (bits 5-7)."""
    q = np.asarray(qc).astype(np.int64)
    return {"modland": q & 1, "sensor": (q >> 1) & 1, "dead_detector": (q >> 2) & 1,
            "cloud": (q >> 3) & 3, "scf_qc": (q >> 5) & 7}


def read_modis(path, *, band=None, qc_band="FparLai_QC", pixel="centre", scf_qc=(0, 1),
               modland_good=True, clear_sky=False, scale=None, std_band=None, std_floor=0.0,
               max_raw=100):
    """One band of a MODIS subset file at one pixel (or the mean of the good pixels).

    Parameters
    ----------
    path : str or Path
    band : str, optional
        ``Lai_500m``, ``Fpar_500m``, ``Lai_1km``, ... (default: the file's first ``Lai_``
        band).
    qc_band : str or None
        QC band (default ``FparLai_QC``); ``None``: no QC filter.
    pixel : "centre", "mean" or int
        The centre pixel (default), the mean over the pixels that pass, or pixel number
        ``k`` (1 = first).
    scf_qc : list of int
        SCF_QC codes kept (default ``[0, 1]``: main algorithm).
    modland_good, clear_sky : bool
        Require MODLAND bit 0 (default) / cloud state clear (off by default).
    scale : float, optional
        Scale factor; required when the file has none (ASCII subsets).
    std_band : str, optional
        Band of the retrieval standard deviation (``LaiStdDev_500m``) used as σ.
    std_floor : float
        Smallest σ (scaled units) with ``std_band``: the retrieval σ is 0 on some dates.
    max_raw : float
        Larger raw values are fill codes (default 100).

    Returns
    -------
    ReadResult
        Dates of the composites' first days, scaled values, σ (with ``std_band``) or None.

    Raises
    ------
    DataError
        Missing file or column, unknown band, a bad date or value (naming the line), a scale
        factor missing, a date given twice, every composite rejected.
    """
    path = Path(path)
    bands, layout = _read(path)
    if band is None:
        band = next((b for b in bands if b.lower().startswith("lai_")), None)
        if band is None:
            raise DataError(f"{path}: no Lai_ band; bands: {sorted(bands)}; give "
                            f"reader_options.band")
    for b, what in ((band, "band"), (qc_band, "qc_band"), (std_band, "std_band")):
        if b is not None and b not in bands:
            raise DataError(f"{path}: no band {b!r} (reader_options.{what}); bands in the "
                            f"file: {sorted(bands)}")
    if pixel not in ("centre", "center", "mean") and (isinstance(pixel, bool) or
                                                      not isinstance(pixel, int) or pixel < 1):
        raise ConfigError(f"{path}: reader_options.pixel = {pixel!r}, expected 'centre', "
                          f"'mean' or a pixel number >= 1")
    rows = bands[band]
    dates = np.array(sorted(rows), dtype="datetime64[D]")
    raw = np.array([rows[d][1] for d in sorted(rows)], dtype=float)
    factor = _scale(path, band, rows, scale, layout)
    n_pix = raw.shape[1]
    record = {"reader": "modis", "file": path.name, "layout": layout, "band": band,
              "scale": factor, "pixels": n_pix, "rows_read": int(dates.size), "rejected": {}}
    ok = raw <= max_raw
    fill = ~ok.copy()
    if qc_band is not None:
        qc = _matching(path, bands[qc_band], rows, qc_band, n_pix)
        f = decode_qc(np.nan_to_num(qc, nan=255))
        good = np.isfinite(qc) & np.isin(f["scf_qc"], list(scf_qc))
        if modland_good:
            good &= f["modland"] == 0
        if clear_sky:
            good &= f["cloud"] == 0
        ok &= good
        record["qc"] = (f"{qc_band}: SCF_QC in {list(scf_qc)}" +
                        (", MODLAND good" if modland_good else "") +
                        (", clear sky" if clear_sky else ""))
    sigma = None
    if std_band is not None:
        s_raw = _matching(path, bands[std_band], rows, std_band, n_pix)
        s_factor = _scale(path, std_band, bands[std_band], scale, layout)
        ok &= s_raw <= max_raw
        sigma = s_raw * s_factor
    use = (slice(None) if pixel == "mean" else
           [n_pix // 2] if pixel in ("centre", "center") else [pixel - 1])
    if pixel not in ("mean", "centre", "center") and pixel > n_pix:
        raise ConfigError(f"{path}: reader_options.pixel = {pixel}, the file has {n_pix} "
                          f"pixels per date")
    ok, raw, fill = ok[:, use], raw[:, use], fill[:, use]
    n_ok = ok.sum(axis=1)
    keep = n_ok > 0
    _count(record, "fill value", fill.all(axis=1))
    _count(record, "QC" if qc_band else "out of range", ~keep & ~fill.all(axis=1))
    if not keep.any():
        raise DataError(f"{path}: all {dates.size} composites of {band!r} rejected "
                        f"({', '.join(f'{k}: {v}' for k, v in record['rejected'].items())}); "
                        f"loosen reader_options.scf_qc / modland_good, or choose another pixel")
    values = np.where(ok, raw, 0.0).sum(axis=1)[keep] / n_ok[keep] * factor
    if sigma is not None:
        s = sigma[:, use]
        sigma = np.sqrt(np.where(ok, s ** 2, 0.0).sum(axis=1))[keep] / n_ok[keep]
        sigma = np.maximum(sigma, std_floor)
        if not (sigma > 0).all():
            d = dates[keep][np.flatnonzero(~(sigma > 0))[0]]
            raise DataError(f"{path}: band {std_band!r} gives sigma 0 on {d}; give "
                            f"reader_options.std_floor (e.g. 0.1 for LAI)")
        record["std"] = f"{std_band}, floor {std_floor:g}"
    record.update(pixel=pixel, kept=int(keep.sum()))
    kind = band.split("_")[0].lower()
    return ReadResult(dates[keep], values, sigma, UNITS.get(kind, ""), record)


def _count(record, reason, mask):
    n = int(np.count_nonzero(mask))
    if n:
        record["rejected"][reason] = n


def _matching(path, other, rows, name, n_pix):
    """Values of band ``other`` on the dates of ``rows`` (NaN where it has none)."""
    out = np.full((len(rows), n_pix), np.nan)
    for i, d in enumerate(sorted(rows)):
        if d in other:
            line, vals, _ = other[d]
            if len(vals) != n_pix:
                raise DataError(f"{path}, line {line}: band {name!r} has {len(vals)} pixels "
                                f"on {d}, the value band {n_pix}")
            out[i] = vals
    return out


def _scale(path, band, rows, given, layout):
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, (int, float)) or given <= 0:
            raise ConfigError(f"{path}: reader_options.scale = {given!r}, expected a "
                              f"positive number")
        return float(given)
    line, _, cell = rows[min(rows)]
    try:
        factor = float(cell)
    except (TypeError, ValueError):
        where = "the ASCII subset layout has no scale column" if layout == "ascii" else \
            f"line {line}, column 'scale' is {cell!r}"
        raise DataError(f"{path}: scale factor of band {band!r} missing ({where}); give "
                        f"reader_options.scale (0.1 for MOD15 LAI and FPAR)") from None
    if not factor > 0:
        raise DataError(f"{path}, line {line}, column 'scale': {cell!r} is not a positive "
                        f"scale factor")
    return factor


def _date(path, line, cell):
    c = cell.strip()
    try:
        if len(c) == 8 and c[0] == "A" and c[1:].isdigit():
            return str(np.datetime64(c[1:5], "D") + np.timedelta64(int(c[5:]) - 1, "D"))
        return str(np.datetime64(c, "D"))
    except ValueError:
        raise DataError(f"{path}, line {line}: date {cell!r}, expected YYYY-MM-DD or "
                        f"AYYYYDDD") from None


def _read(path):
    """``{band: {date: (line, pixel values, scale cell)}}`` and the layout name."""
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = [(i + 1, r) for i, r in enumerate(csv.reader(fh)) if r and any(c.strip()
                                                                               for c in r)]
    if not rows:
        raise DataError(f"{path}: empty file")
    head = [h.strip() for h in rows[0][1]]
    if "band" in head and "value" in head:
        return _read_csv(path, head, rows[1:]), "csv"
    if len(head) > 5 and head[2].startswith("A") and "." in head[0]:
        return _read_ascii(path, rows), "ascii"
    raise DataError(f"{path}: not a MODIS subset: expected a CSV header with 'band' and "
                    f"'value' (ORNL DAAC subset CSV) or ORNL ASCII subset lines "
                    f"'<id>.<band>,<product>,AYYYYDDD,<site>,<processed>,v1,...'; first line "
                    f"{','.join(head)[:120]!r}")


def _put(path, out, band, date, line, values, scale):
    if date in out.setdefault(band, {}):
        raise DataError(f"{path}, line {line}: band {band!r} on {date} again (first on line "
                        f"{out[band][date][0]})")
    out[band][date] = (line, values, scale)


def _number(path, line, col, cell):
    try:
        return float(cell)
    except ValueError:
        raise DataError(f"{path}, line {line}, column {col!r}: expected a number, got "
                        f"{cell!r}") from None


def _read_csv(path, head, rows):
    tcol = "calendar_date" if "calendar_date" in head else "modis_date"
    if tcol not in head:
        raise DataError(f"{path}: no column 'calendar_date' or 'modis_date'; the file has "
                        f"{head}")
    at = {c: head.index(c) for c in head}
    cells = {}
    for line, r in rows:
        if len(r) != len(head):
            raise DataError(f"{path}, line {line}: {len(r)} fields, the header has {len(head)}")
        key = (r[at["band"]].strip(), _date(path, line, r[at[tcol]]))
        pix = int(_number(path, line, "pixel", r[at["pixel"]])) if "pixel" in at else 1
        scale = r[at["scale"]].strip() if "scale" in at else None
        cells.setdefault(key, []).append((pix, line, _number(path, line, "value",
                                                              r[at["value"]]), scale))
    out = {}
    for (band, date), px in cells.items():
        px.sort()
        if len({p for p, *_ in px}) != len(px):
            raise DataError(f"{path}, line {px[0][1]}: band {band!r} on {date} repeats a "
                            f"pixel number")
        _put(path, out, band, date, px[0][1], [v for _, _, v, _ in px], px[0][3])
    return out


def _read_ascii(path, rows):
    out = {}
    for line, r in rows:
        band = r[0].strip().rsplit(".", 1)[-1]
        vals = [_number(path, line, f"pixel {k + 1}", c) for k, c in enumerate(r[5:])]
        _put(path, out, band, _date(path, line, r[2]), line, vals, None)
    return out
