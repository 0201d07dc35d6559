"""Proving a converted graph computes what the native model does: ``check`` (check_parity), the
error bound, the parity matrix, known upstream issues and the accuracy of lossy variants.

Imports ``converter`` and ``runtime``, never ``serving``. ``conversion.testing`` is its public face.
"""
