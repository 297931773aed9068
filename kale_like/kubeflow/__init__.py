"""Everything that speaks Kubeflow: the KFP v2 compiler bridge (``compile``), the KFP REST
client (``client``, ``runs``, ``deploy``), its configuration (``config``), the refusals and
error mapping (``refusals``, ``errors``, ``dsl_map``), ML Metadata lookups (``mlmd``) and
Katib experiments (``katib``). Nothing here is imported until a verb asks for it.
"""
