"""The quality gate's rules: the expectation suites in `expectations/`, applied to each batch.

One Great Expectations (GX 1.x) suite per source, a JSON file its data owner reads and edits, is
the single definition of the rules. This package turns each expectation into two things:

- a DuckDB predicate, so the door (defs/ingest/door.py) splits a staged file into loaded and
  quarantined rows in one streaming pass, memory bounded, at the speed of the load itself;
- the same expectation for GX, which re-judges every row the door failed plus a sample of the rows
  it passed, on pandas DataFrames pulled from DuckDB in bounded chunks (GX's SQL datasource does not
  work on DuckDB in GX 1.x), once per source and run. That GX result is the official validation
  result, and it must agree with the door, rule by rule, or the source's new files are held back.

Values are judged after format normalisation (`normalised_sql`): surrounding white space, empty
strings, case of code columns, thousands separators and unambiguous date formats are put into the
contract's canonical text form; everything else is judged as delivered. Non-text rules see the
values typed per the contract (`typed_sql`; a number that is not finite has no typed value), the
contract-type and finite rules see the text.

Modules: `suite` reads the suite files, `types` holds the contract types' SQL, `sql` the
rules' predicates, `gx` the GX side and `contract_type` the two custom GX expectations.
"""
