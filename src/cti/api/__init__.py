"""The CTI's faces: event bus, agent websocket with screen-pop, REST, metrics, auth."""
