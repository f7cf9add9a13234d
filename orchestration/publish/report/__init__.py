"""The plan report: one self-contained HTML page for the province's leaders, Vietnamese first.

It is written by the publish from the file it is about to serve (never from the working
warehouse, never from a build the gate blocked), and ``make report`` writes it again from
``published.duckdb``. Charts are static SVG written by ``charts``, in this process and without a
browser or a chart renderer: the page carries no script, and no request leaves it (styles inline,
no web fonts, no images from elsewhere).

It briefs before it lists: target cards first (each plan and territory by its Vietnamese name,
T1 … T10, the latest verdict, actual against required, the pace still required and the
projection), the rates with a gap in the line at the 2025 reorganisation and at every change of
standard, what changed since the previous publish, completeness (the same list the terminal
prints, from ``orchestration.publish.completeness``), then the details, the full target history
collapsed. Numbers are written the Vietnamese way (1.234,5), counts as integers; names sort in
Vietnamese alphabetical order (a ă â b c d đ e ê …), not by code point.

The page follows the published tables' contract, and a table or column a build does not have
yields one "not available in this build" line instead of an error, so the report never stops a
publish of valid data.

The package, one concern per module: ``page`` (the sections in order, the style, the file and
``python -m orchestration.publish.report``), ``targets`` (the cards and the target history),
``sections`` (the other sections), ``charts`` (inline SVG), ``markup`` (Vietnamese
numbers and order, bilingual labels, table cells) and ``published`` (read access to the file).
"""
