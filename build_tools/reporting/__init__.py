"""`nox -s report`: one self-contained HTML page (and a Markdown summary) from the JSON reports.

One job per module: `inputs` reads and checks the reports, `keyfigures` picks the figures
compared with a baseline, `figures` turns them into plotly figure specs (plain dicts),
`markup` escapes and assembles HTML, `page` renders the page with plotly.js inlined,
`summary` writes the Markdown, `command` is the `report` command. Only `page` imports
plotly (the `report` extra), inside its function: the shipped toolchain runs without it.
"""
