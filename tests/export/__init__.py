"""Tests of the CSV and XLSX exports."""
