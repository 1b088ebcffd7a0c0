"""The AWS wire protocols, driven by botocore's bundled service models.

:mod:`~batchbridge.api.catalog` loads and indexes the models (routing by method and
``requestUri`` for rest-json, by ``X-Amz-Target`` for JSON 1.0/1.1); :mod:`~batchbridge.api.parsing`
and :mod:`~batchbridge.api.validation` turn a request into checked ``params``;
:mod:`~batchbridge.api.serialization` writes a service's result; :mod:`~batchbridge.api.faults`
builds AWS's error envelopes; :mod:`~batchbridge.api.auth` checks SigV4;
:mod:`~batchbridge.api.handler` runs one request through all of them.
"""
