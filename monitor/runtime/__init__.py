"""The thin runtime shell: files, Kafka, faust and DuckDB live here and only here."""
