/** File names inside the data directory. */
export const DATABASE_FILE_NAME = 'persona-mcp.db';
