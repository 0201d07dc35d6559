"""The report: onnxgate run (job.py), the HTML built from results files (build.py) and its plots."""
