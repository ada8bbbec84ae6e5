"""One builder per contract source, grouped by the family of departmental systems that sends it.

A builder takes the run's `Context` (and what it depends on, such as the policies) and returns a
`Table`; it adds the handling hours of its records to the shared workload, from which staffing
and costs follow.
"""
