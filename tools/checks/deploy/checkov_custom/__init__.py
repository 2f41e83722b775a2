"""checkov custom checks: checkov imports every module here (it needs this file to)."""
