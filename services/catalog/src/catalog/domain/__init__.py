"""Netflix's decisions as plain code: encoding ladders, Open Connect steering, cache fill."""
