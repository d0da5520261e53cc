"""``fleetctl``: the command line client of the fleet HTTP API, for operators and scripts.

Standard library only, plus :mod:`fleet_common.events` (kind patterns). :mod:`fleet_cli.client`
speaks HTTP; :mod:`fleet_cli.commands` holds one module of verbs per resource;
:mod:`fleet_cli.main` builds the parser and runs a verb.
"""
