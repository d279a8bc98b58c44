"""Render: one module per output format, each reading one :class:`~evalreport.result.Result`."""
