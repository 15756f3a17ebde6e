"""dicodec.cli"""
