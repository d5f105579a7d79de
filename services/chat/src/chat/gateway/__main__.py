from chat.gateway.server import main

main()
