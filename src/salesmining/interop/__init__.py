"""Bridges to other process-mining tools. ``pm4py`` is the only module that imports pm4py (lazily):
XES files, Petri nets, BPMN, alignments and token replay.
"""
