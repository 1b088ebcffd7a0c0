def lambda_handler(event, context):
    array_properties = event["detail"].get("arrayProperties", dict())
    print(array_properties.get("index", "root"))
